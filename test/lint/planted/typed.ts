// test/lint/boundaries.test.ts lints this file with planted code appended: a floating promise must be rejected.
export async function settled(): Promise<void> {}
