// Where uploaded images live. Files get generated names; the client's file name is never used.
import { mkdirSync } from "node:fs";
import { open, rm } from "node:fs/promises";
import path from "node:path";
import { v7 as uuidv7 } from "uuid";

export interface FileStore {
  readonly dir: string;
  /** A fresh, unguessable file name (no extension: the type is known from the content, not the name). */
  newName(): string;
  pathOf(name: string): string;
  /** The first `length` bytes of a stored file, for checking its real type. */
  head(name: string, length: number): Promise<Buffer>;
  /** The last `length` bytes and the size of a stored file. */
  tail(name: string, length: number): Promise<{ tail: Buffer; size: number }>;
  remove(name: string): Promise<void>;
}

const SAFE_NAME = /^[0-9a-f-]{36}$/;

export class LocalFileStore implements FileStore {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  newName(): string {
    return uuidv7();
  }

  pathOf(name: string): string {
    if (!SAFE_NAME.test(name)) throw new Error(`Not a stored file name: ${name}`);
    return path.join(this.dir, name);
  }

  async head(name: string, length: number): Promise<Buffer> {
    const file = await open(this.pathOf(name), "r");
    try {
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await file.read(buffer, 0, length, 0);
      return buffer.subarray(0, bytesRead);
    } finally {
      await file.close();
    }
  }

  async tail(name: string, length: number): Promise<{ tail: Buffer; size: number }> {
    const file = await open(this.pathOf(name), "r");
    try {
      const { size } = await file.stat();
      const start = Math.max(0, size - length);
      const buffer = Buffer.alloc(size - start);
      await file.read(buffer, 0, buffer.length, start);
      return { tail: buffer, size };
    } finally {
      await file.close();
    }
  }

  async remove(name: string): Promise<void> {
    await rm(this.pathOf(name), { force: true });
  }
}
