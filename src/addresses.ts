// Redis addresses as users write them: 'host:port' lists (sentinels, Cluster nodes) and the
// `redis-sentinel://` and `redis-cluster://` URLs, which ioredis does not read. Each parser
// throws a Problem saying what is wrong; the settings table adds what the setting accepts.

/** A Sentinel's address, as ioredis takes it. */
export interface SentinelAddress {
  host: string;
  port: number;
}

/** The problem with a piece of a setting; the settings table adds what the setting accepts. */
export class Problem extends Error {}

/** 'host:port' ('[::1]:26379' for IPv6) as an address; throws a Problem saying what is wrong. */
function hostPort(text: string): SentinelAddress {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(.*)$/.exec(text);
  if (!m) throw new Problem(`'${text}' has no port`);
  const host = m[1] ?? m[2]!;
  if (host === '') throw new Problem(`'${text}' has no host`);
  if (!/^\d+$/.test(m[3]!)) throw new Problem(`'${text}' has a port that is not a number`);
  const port = Number(m[3]);
  if (port < 1 || port > 65535) throw new Problem(`'${text}' has port ${port}, out of 1-65535`);
  return { host, port };
}

/** 'host:port,host:port' as addresses. */
export function parseHostPorts(text: string): SentinelAddress[] {
  const parts = text.split(',').map((s) => s.trim());
  if (parts.every((p) => p === '')) throw new Problem('no address given');
  return parts.map((p) => {
    if (p === '') throw new Problem('an empty address between commas');
    return hostPort(p);
  });
}

/** What a `redis-sentinel://` URL says. */
export interface SentinelUrl {
  sentinels: SentinelAddress[];
  name: string;
  username?: string;
  password?: string;
  db?: number;
}

export const SENTINEL_SCHEME = 'redis-sentinel://';

/**
 * `redis-sentinel://[user:password@]host:port[,host:port...]/<master name>[?db=N]` (ioredis reads
 * no such URL). The user and password are the data nodes'; throws a Problem saying what is wrong.
 */
export function parseSentinelUrl(url: string): SentinelUrl {
  if (!url.startsWith(SENTINEL_SCHEME)) throw new Problem(`it does not start with '${SENTINEL_SCHEME}'`);
  let rest = url.slice(SENTINEL_SCHEME.length);
  if (rest.includes('#')) throw new Problem('a URL fragment (#...) is not read');
  let query = '';
  const q = rest.indexOf('?');
  if (q >= 0) [rest, query] = [rest.slice(0, q), rest.slice(q + 1)];
  const slash = rest.indexOf('/');
  const authority = slash >= 0 ? rest.slice(0, slash) : rest;
  const path = slash >= 0 ? rest.slice(slash + 1) : '';
  const { hosts, ...auth } = parseAuthority(authority, 'sentinel');
  const out: SentinelUrl = { sentinels: hosts, name: '', ...auth };
  if (path === '') throw new Problem("no master name: end it with '/<master name>', as in '/mymaster'");
  if (path.includes('/')) throw new Problem("the path must be the master name alone, as in '/mymaster'");
  try {
    out.name = decodeURIComponent(path);
  } catch {
    throw new Problem('the master name has a malformed %-escape');
  }
  for (const pair of query ? query.split('&') : []) {
    const [key, value = ''] = pair.split('=');
    if (key !== 'db') throw new Problem(`'${key}' is not a query parameter it reads (only db=N)`);
    if (!/^\d+$/.test(value)) throw new Problem(`db=${value} is not an integer >= 0`);
    out.db = Number(value);
  }
  return out;
}

/** `[user:password@]host:port[,host:port...]`: the credentials and the addresses; throws a Problem. */
function parseAuthority(authority: string, kind: string): { hosts: SentinelAddress[]; username?: string; password?: string } {
  const at = authority.lastIndexOf('@');
  const out: { hosts: SentinelAddress[]; username?: string; password?: string } = { hosts: [] };
  if (at >= 0) {
    const userinfo = authority.slice(0, at);
    const colon = userinfo.indexOf(':');
    if (colon < 0) throw new Problem("the credentials need a colon: 'user:password@', or ':password@' for a password alone");
    try {
      const [username, password] = [decodeURIComponent(userinfo.slice(0, colon)), decodeURIComponent(userinfo.slice(colon + 1))];
      if (username) out.username = username;
      if (password) out.password = password;
    } catch {
      throw new Problem('the credentials have a malformed %-escape');
    }
  }
  const hosts = authority.slice(at + 1);
  if (hosts === '') throw new Problem(`no ${kind} host:port given`);
  out.hosts = parseHostPorts(hosts);
  return out;
}

/** What a `redis-cluster://` URL says. */
export interface ClusterUrl {
  nodes: SentinelAddress[];
  username?: string;
  password?: string;
}

export const CLUSTER_SCHEME = 'redis-cluster://';

/**
 * `redis-cluster://[user:password@]host:port[,host:port...]`: seed nodes of a Redis Cluster
 * (ioredis reads no such URL); no path (a Cluster has database 0 only) and no query. Throws a
 * Problem saying what is wrong.
 */
export function parseClusterUrl(url: string): ClusterUrl {
  if (!url.startsWith(CLUSTER_SCHEME)) throw new Problem(`it does not start with '${CLUSTER_SCHEME}'`);
  const rest = url.slice(CLUSTER_SCHEME.length).replace(/\/$/, '');
  if (/[/?#]/.test(rest)) throw new Problem('a Cluster URL has no path, query or fragment: a Cluster has database 0 only');
  const { hosts, ...auth } = parseAuthority(rest, 'node');
  return { nodes: hosts, ...auth };
}

