/**
 * Reused buffers for the verifier's native calls. A typed array of up to 64 bytes made with
 * `new Uint8Array(n)` lives on the JS heap, and V8 moves it off-heap the first time native code
 * asks for its memory; that move costs more than the cipher does on these sizes. A view of an
 * ArrayBuffer is off-heap from the start, and a plain Uint8Array's subarray is cheaper to make
 * than a Buffer's.
 */
export function offHeap(bytes: number): Uint8Array {
  return new Uint8Array(new ArrayBuffer(bytes))
}
