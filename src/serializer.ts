// How task arguments and results become bytes: JSON by default, msgpack optional, or a
// custom encode/decode pair.

import { Packr } from 'msgpackr';

export interface Serializer {
  readonly name: string;
  /** True when encode returns binary data (read back as Buffers). */
  readonly binary: boolean;
  encode(value: unknown): string | Buffer;
  decode(raw: string | Buffer): unknown;
}

export const jsonSerializer: Serializer = {
  name: 'json',
  binary: false,
  encode: (value) => (value === undefined ? '' : JSON.stringify(value)),
  decode: (raw) => {
    const text = typeof raw === 'string' ? raw : raw.toString('utf8');
    return text === '' ? undefined : JSON.parse(text);
  },
};

export function msgpackSerializer(): Serializer {
  const packr = new Packr({ useRecords: false, moreTypes: true });
  return {
    name: 'msgpack',
    binary: true,
    encode: (value) => (value === undefined ? Buffer.alloc(0) : packr.pack(value)),
    decode: (raw) => {
      const buf = typeof raw === 'string' ? Buffer.from(raw, 'latin1') : raw;
      return buf.length === 0 ? undefined : packr.unpack(buf);
    },
  };
}

export type SerializerOption =
  | 'json'
  | 'msgpack'
  | { encode(value: unknown): string | Buffer; decode(raw: string | Buffer): unknown; binary?: boolean; name?: string };

export function resolveSerializer(option: SerializerOption | undefined): Serializer {
  if (option === undefined || option === 'json') return jsonSerializer;
  if (option === 'msgpack') return msgpackSerializer();
  return { name: option.name ?? 'custom', binary: option.binary ?? false, encode: option.encode, decode: option.decode };
}
