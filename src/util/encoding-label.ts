import { TextDecoder } from 'node:util';

/** Whether TextDecoder knows an encoding label (`latin1`, `windows-1252`, `utf-16le`, `shift_jis`, …). */
export function isEncodingLabel(label: string): boolean {
  try {
    new TextDecoder(label);
    return true;
  } catch {
    return false;
  }
}
