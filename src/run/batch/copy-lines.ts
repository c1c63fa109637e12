/**
 * Copies a result file's bytes to `write` as they arrive and hands each line to `onLine` with its offset in what was
 * written, so the line can be read back from disk later. The chunks are scanned in place: only a line that spans
 * chunks is joined (one line's bytes), nothing else is copied. A last line with no `\n` gets one, so the next file
 * appended after it starts a line of its own.
 */
export async function copyLines(
  chunks: AsyncIterable<Uint8Array>,
  start: number,
  onLine: (line: Buffer, offset: number) => void,
  write: (bytes: Buffer | string) => Promise<void>,
): Promise<number> {
  let at = start;
  let pending: Buffer[] = [];
  const emit = (line: Buffer) => {
    onLine(line, at);
    at += line.length + 1;
  };
  for await (const chunk of chunks) {
    const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let from = 0;
    for (let nl = bytes.indexOf(0x0a); nl >= 0; nl = bytes.indexOf(0x0a, from)) {
      const piece = bytes.subarray(from, nl);
      emit(pending.length ? Buffer.concat([...pending, piece]) : piece);
      pending = [];
      from = nl + 1;
    }
    if (from < bytes.length) pending.push(bytes.subarray(from));
    await write(bytes);
  }
  if (pending.length) {
    emit(Buffer.concat(pending));
    await write('\n');
  }
  return at;
}
