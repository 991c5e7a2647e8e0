// The ACL user of docs/topologies.md#acl-users, as the tests create it: its `ACL SETUSER` line
// read from the page (so the page and the tests cannot drift apart), and ACL LOG read back.

import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

/** The password the tests give the documented user (the page says `s3cret`). */
export const PASSWORD = 'mr-pw';

/** The rule of docs/topologies.md, for `prefix`: the arguments of `ACL SETUSER <user> ...`. */
export function documentedRule(prefix: string): string[] {
  const page = readFileSync(new URL('../../docs/topologies.md', import.meta.url), 'utf8');
  const line = /^ACL SETUSER millrace (.+)$/m.exec(page.slice(page.indexOf('## ACL users')));
  if (!line) throw new Error('docs/topologies.md has no `ACL SETUSER millrace ...` line under "ACL users"');
  return line[1]!.trim().split(/\s+/).map((rule) => {
    if (rule === '>s3cret') return `>${PASSWORD}`;
    return /^[~&]/.test(rule) ? rule.replaceAll('millrace', prefix) : rule;
  });
}

/** ACL LOG entries as field → value. */
export async function aclLog(admin: Redis): Promise<Record<string, string>[]> {
  const entries = (await admin.call('ACL', 'LOG')) as unknown[][];
  return entries.map((e) => {
    const out: Record<string, string> = {};
    for (let i = 0; i + 1 < e.length; i += 2) out[String(e[i])] = String(e[i + 1]);
    return out;
  });
}

/**
 * The sentinels' user of docs/topologies.md#acl-users: its `user millrace-sentinel ...` line (of
 * sentinel.conf) read from the page, as `<name> <rules>` with the tests' password.
 */
export function documentedSentinelUser(name: string, password: string): string {
  const page = readFileSync(new URL('../../docs/topologies.md', import.meta.url), 'utf8');
  const line = /^user millrace-sentinel (.+)$/m.exec(page.slice(page.indexOf('## ACL users')));
  if (!line) throw new Error('docs/topologies.md has no `user millrace-sentinel ...` line under "ACL users"');
  return `${name} ${line[1]!.trim().replace('>s3cret', `>${password}`)}`;
}
