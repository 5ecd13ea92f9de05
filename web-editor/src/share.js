// Share links: the values (passwords removed) deflated and base64url-encoded into the
// URL fragment, which browsers never send to a server.
import { isPasswordKey, withoutKeys } from "./values.js";

/** `text` without any key whose name contains "password"; null if it does not parse. */
export const withoutPasswords = (text) => withoutKeys(text, isPasswordKey);

// A link that inflates past the largest values file (core's limit) is refused before
// it can fill memory: deflate reaches ratios over 1000:1.
async function through(bytes, stream, limit = Infinity) {
  const reader = new Blob([bytes]).stream().pipeThrough(stream).getReader();
  const chunks = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > limit) {
      await reader.cancel();
      throw new Error(`the shared values are larger than a values file may be (${limit} bytes)`);
    }
    chunks.push(value);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

function toBase64url(bytes) {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64url(s) {
  const b64 = s.replace(/-/g, "+").replace(/_/g, "/");
  const bin = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

export async function encode(text) {
  return toBase64url(await through(new TextEncoder().encode(text), new CompressionStream("deflate-raw")));
}

export async function decode(param, limit) {
  const bytes = await through(fromBase64url(param), new DecompressionStream("deflate-raw"), limit);
  return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
}

/** The link for `text` on this page, without its query (`?edit` belongs to the edit server). */
export async function shareLink(text) {
  const url = new URL(location.href);
  url.search = "";
  url.hash = `v=${await encode(text)}`;
  return url.href;
}

/** The `v` parameter of the fragment, if any. */
export function sharedParam(hash = location.hash) {
  return new URLSearchParams(hash.replace(/^#/, "")).get("v");
}
