// OpenTelemetry trace context carried from enqueue to execution, used only when the
// application has @opentelemetry/api installed (it is an optional peer, loaded lazily).

/** The part of @opentelemetry/api millrace uses (typed here so the package stays optional). */
export interface OtelApi {
  context: { active(): unknown; with<T>(ctx: unknown, fn: () => T): T };
  propagation: {
    inject(ctx: unknown, carrier: Record<string, string>): void;
    extract(ctx: unknown, carrier: Record<string, string>): unknown;
  };
  trace: {
    getSpan(ctx: unknown): unknown;
    getTracer(name: string): {
      startActiveSpan<T>(name: string, options: { kind: number; attributes?: Record<string, string | number> }, ctx: unknown, fn: (span: OtelSpan) => T): T;
    };
  };
  SpanKind: { CONSUMER: number };
  SpanStatusCode: { ERROR: number };
}

interface OtelSpan {
  end(): void;
  recordException(error: unknown): void;
  setStatus(status: { code: number; message?: string }): void;
}

let loading: Promise<OtelApi | null> | undefined;
/** The lookup's outcome once it is known (undefined before). */
let loaded: OtelApi | null | undefined;

/** The OpenTelemetry API when installed, else null (looked up once). */
export function loadOtel(): Promise<OtelApi | null> {
  const name = '@opentelemetry/api';
  loading ??= import(name).then(
    (m: OtelApi & { default?: OtelApi }) => (loaded = m.trace ? m : (m.default ?? null)),
    () => (loaded = null),
  );
  return loading;
}

/** The active trace context as carrier headers (traceparent...), when a span is active. */
export async function currentTraceCarrier(): Promise<Record<string, string> | undefined> {
  if (loaded === undefined) await loadOtel();
  return traceCarrierNow() ?? undefined;
}

/**
 * The same, without waiting: null while the OpenTelemetry lookup is not done yet (the caller
 * takes the path that waits for it).
 */
export function traceCarrierNow(): Record<string, string> | undefined | null {
  if (loaded === undefined) return null;
  if (!loaded) return undefined;
  const active = loaded.context.active();
  if (!loaded.trace.getSpan(active)) return undefined;
  const carrier: Record<string, string> = {};
  loaded.propagation.inject(active, carrier);
  return Object.keys(carrier).length > 0 ? carrier : undefined;
}

/** Runs a job inside a consumer span whose parent is the enqueuer's trace context. */
export function runTraced<T>(otel: OtelApi, carrier: Record<string, string>, name: string, attributes: Record<string, string | number>, fn: () => Promise<T>): Promise<T> {
  const parent = otel.propagation.extract(otel.context.active(), carrier);
  return otel.trace.getTracer('millrace').startActiveSpan(name, { kind: otel.SpanKind.CONSUMER, attributes }, parent, async (span) => {
    try {
      return await fn();
    } catch (err) {
      span.recordException(err);
      span.setStatus({ code: otel.SpanStatusCode.ERROR, message: (err as Error)?.message });
      throw err;
    } finally {
      span.end();
    }
  });
}
