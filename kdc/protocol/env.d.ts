// Ambient declarations for the few web-platform globals kdc/protocol uses. The module is
// type-checked with "types": [] (no node types), so it cannot reach node: APIs by accident;
// these globals exist in Node >= 20, Deno, Bun, browsers and workers alike.
declare class TextEncoder {
  encode(input?: string): Uint8Array
}
declare class TextDecoder {
  constructor(label?: string, options?: { fatal?: boolean; ignoreBOM?: boolean })
  decode(input?: Uint8Array): string
}
