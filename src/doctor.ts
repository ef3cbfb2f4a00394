// SPDX-License-Identifier: Apache-2.0
export async function runDoctor(_opts: { json: boolean }): Promise<number> {
  return 0;
}
