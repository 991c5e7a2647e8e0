// Runs inside a pool thread: loads a thread task's module (TypeScript through tsx) and calls its export.
// Plain JavaScript, so the thread can load it before any TypeScript loader is in place.

const modules = new Map();

async function load(url) {
  let mod = modules.get(url);
  if (!mod) {
    // tsx only for TypeScript sources: a built .js module loads without a loader.
    if (/\.[mc]?tsx?$/.test(new URL(url).pathname)) {
      const { tsImport } = await import('tsx/esm/api');
      mod = tsImport(url, import.meta.url);
    } else {
      mod = import(url);
    }
    modules.set(url, mod);
  }
  return mod;
}

export default async function runThreadTask({ module, name, args }) {
  const mod = await load(module);
  const fn = mod[name];
  if (typeof fn !== 'function') throw new TypeError(`${module} has no function export '${name}'`);
  return fn(...args);
}
