// RESP framing for the fault proxy: finds where each client request and each server reply ends
// in a byte stream that arrives in arbitrary chunks, without copying the stream on every chunk.

const CR = 13;
const LF = 10;
/** First byte of a RESP3 push frame (pub/sub message, invalidation): not the reply to a command. */
export const PUSH = 0x3e; // '>'
/** Redis refuses inline requests longer than this; so do we, rather than buffer without end. */
const MAX_INLINE = 64 * 1024;
const EMPTY = Buffer.alloc(0);

/** A command as the proxy sees it: the upper-cased name and the arguments after it. */
export interface ProxyCommand {
  name: string;
  args: Buffer[];
}

/** Bytes that are not RESP: the proxy stops parsing that connection and passes it through. */
export class RespProtocolError extends Error {
  override readonly name = 'RespProtocolError';
}

/**
 * The bytes of one direction not yet consumed. A chunk that arrives while nothing is buffered is
 * adopted as is; otherwise chunks are only queued, and joined once, when enough bytes are there
 * for the frame the last parse was waiting for (a 10 MB bulk in 64 kB chunks is copied once).
 */
export class ChunkReader {
  buf: Buffer = EMPTY;
  /** Start of the first unconsumed byte in `buf`; parsers advance it. */
  off = 0;
  /** Bytes (counted from `off`) the last incomplete parse needs at least. */
  need = 0;
  private parts: Buffer[] = [];
  private partsLength = 0;

  push(chunk: Buffer): void {
    if (this.off >= this.buf.length && this.parts.length === 0) {
      this.buf = chunk;
      this.off = 0;
    } else {
      this.parts.push(chunk);
      this.partsLength += chunk.length;
    }
  }

  /** Whether parsing again can succeed; joins the queued chunks first if so. */
  ready(): boolean {
    const available = this.buf.length - this.off + this.partsLength;
    if (available === 0 || available < this.need) return false;
    this.need = 0; // set again by the parse if it still falls short
    if (this.parts.length) {
      this.buf = Buffer.concat([this.buf.subarray(this.off), ...this.parts], available);
      this.off = 0;
      this.parts = [];
      this.partsLength = 0;
    }
    return true;
  }

  /** Every unconsumed byte, for a switch to raw pass-through; the reader is empty afterwards. */
  takeRest(): Buffer {
    const rest = this.parts.length ? Buffer.concat([this.buf.subarray(this.off), ...this.parts]) : this.buf.subarray(this.off);
    this.buf = EMPTY;
    this.off = 0;
    this.need = 0;
    this.parts = [];
    this.partsLength = 0;
    return rest;
  }

  /** Marks the frame at `off` incomplete until the buffer reaches absolute offset `end`. */
  incomplete(end: number): -1 {
    this.need = end - this.off;
    return -1;
  }
}

/** The integer in buf[start, end), e.g. a length; throws on anything but an optional '-' and digits. */
function readInt(buf: Buffer, start: number, end: number): number {
  let i = start;
  const negative = buf[i] === 0x2d;
  if (negative) i++;
  if (i >= end) throw new RespProtocolError('empty integer');
  let n = 0;
  for (; i < end; i++) {
    const d = buf[i]! - 0x30;
    if (d < 0 || d > 9) throw new RespProtocolError(`bad integer ${JSON.stringify(buf.toString('latin1', start, end))}`);
    n = n * 10 + d;
  }
  return negative ? -n : n;
}

/** Offset of the CR ending the line that starts at `start`, or -1 when its CRLF has not arrived. */
function lineEnd(buf: Buffer, start: number): number {
  const cr = buf.indexOf(CR, start);
  return cr >= 0 && cr + 1 < buf.length ? cr : -1;
}

/**
 * The end of the server reply at `r.off` (not consumed), or -1 when it has not fully arrived.
 * Nested aggregates need no stack: only the count of values still to skip matters.
 */
export function replyEnd(r: ChunkReader): number {
  const { buf } = r;
  let pos = r.off;
  let values = 1;
  while (values > 0) {
    if (pos >= buf.length) return r.incomplete(pos + 1);
    const type = buf[pos]!;
    const cr = lineEnd(buf, pos + 1);
    if (cr < 0) return r.incomplete(buf.length + 1);
    const body = cr + 2;
    switch (type) {
      case 0x2b: case 0x2d: case 0x3a: // + - :
      case 0x5f: case 0x2c: case 0x23: case 0x28: // RESP3 _ , # (
        values--;
        pos = body;
        break;
      case 0x24: case 0x21: case 0x3d: { // $ and RESP3 ! =
        const n = readInt(buf, pos + 1, cr);
        values--;
        pos = n < 0 ? body : body + n + 2; // $-1: the RESP2 null bulk
        if (pos > buf.length) return r.incomplete(pos);
        break;
      }
      case 0x2a: case 0x7e: case 0x3e: // * and RESP3 ~ >
        values += Math.max(readInt(buf, pos + 1, cr), 0) - 1; // *-1: the RESP2 null array
        pos = body;
        break;
      case 0x25: // RESP3 % map: a key and a value per entry
        values += 2 * Math.max(readInt(buf, pos + 1, cr), 0) - 1;
        pos = body;
        break;
      case 0x7c: // RESP3 | attributes: their pairs come before the value they annotate
        values += 2 * Math.max(readInt(buf, pos + 1, cr), 0);
        pos = body;
        break;
      default:
        throw new RespProtocolError(`unknown reply type ${JSON.stringify(String.fromCharCode(type))}`);
    }
  }
  return pos;
}

/**
 * The client request at `r.off`, consumed, or undefined when it has not fully arrived. A request
 * is an array of bulk strings, or an inline line (`PING\r\n`, as redis-cli may send); an empty
 * one (which Redis answers with nothing) has the name ''.
 */
export function readRequest(r: ChunkReader): ProxyCommand | undefined {
  return r.buf[r.off] === 0x2a ? readMultibulk(r) : readInline(r);
}

function readMultibulk(r: ChunkReader): ProxyCommand | undefined {
  const { buf } = r;
  let cr = lineEnd(buf, r.off + 1);
  if (cr < 0) return incompleteRequest(r, buf.length + 1);
  const count = readInt(buf, r.off + 1, cr);
  let pos = cr + 2;
  const parts: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    if (pos >= buf.length) return incompleteRequest(r, pos + 1);
    if (buf[pos] !== 0x24) throw new RespProtocolError(`expected '$', got ${JSON.stringify(String.fromCharCode(buf[pos]!))}`);
    cr = lineEnd(buf, pos + 1);
    if (cr < 0) return incompleteRequest(r, buf.length + 1);
    const start = cr + 2;
    const end = start + readInt(buf, pos + 1, cr);
    if (end < start) throw new RespProtocolError('negative bulk length in a request');
    if (end + 2 > buf.length) return incompleteRequest(r, end + 2);
    parts.push(buf.subarray(start, end));
    pos = end + 2;
  }
  r.off = pos;
  return toCommand(parts);
}

function readInline(r: ChunkReader): ProxyCommand | undefined {
  const { buf } = r;
  const lf = buf.indexOf(LF, r.off);
  if (lf < 0) {
    if (buf.length - r.off > MAX_INLINE) throw new RespProtocolError('inline request too long');
    return incompleteRequest(r, buf.length + 1);
  }
  const end = lf > r.off && buf[lf - 1] === CR ? lf - 1 : lf;
  const words = buf.toString('latin1', r.off, end).split(/[ \t]+/).filter(Boolean);
  r.off = lf + 1;
  return toCommand(words.map((w) => Buffer.from(w, 'latin1')));
}

function incompleteRequest(r: ChunkReader, end: number): undefined {
  r.incomplete(end);
  return undefined;
}

function toCommand(parts: Buffer[]): ProxyCommand {
  const [first, ...args] = parts;
  return { name: first ? first.toString('latin1').toUpperCase() : '', args };
}
