// Stream entry ids ("<ms>-<seq>"), as Redis orders them: every broker and reader compares them alike.

/** Orders two stream entry ids ("<ms>-<seq>"; a missing seq is 0). */
export function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-');
  const [bm, bs] = b.split('-');
  return Number(am) - Number(bm) || Number(as ?? 0) - Number(bs ?? 0);
}
