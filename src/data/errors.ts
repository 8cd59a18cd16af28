/**
 * Errors raised by src/data. Each one says what went wrong, where (file, byte offset, row) and how
 * to fix it; the message is complete on its own, the fields are there for programs.
 */
export interface DataErrorWhere {
  /** File or dataset folder the problem is in. */
  file?: string;
  /** Byte offset inside `file`. */
  offset?: number;
  /** Transition row (0-based) or episode index. */
  row?: number;
}

export class DataError extends Error {
  readonly file?: string;
  readonly offset?: number;
  readonly row?: number;
  readonly fix: string;

  constructor(what: string, where: DataErrorWhere, fix: string) {
    const parts: string[] = [];
    if (where.file !== undefined) parts.push(where.file);
    if (where.offset !== undefined) parts.push(`byte ${where.offset}`);
    if (where.row !== undefined) parts.push(`row ${where.row}`);
    super(`${parts.length ? `${parts.join(': ')}: ` : ''}${what}; ${fix}`);
    this.name = 'DataError';
    this.file = where.file;
    this.offset = where.offset;
    this.row = where.row;
    this.fix = fix;
  }
}

/** Progress callback shared by long operations: `done` of `total` units (transitions or bytes). */
export type ProgressFn = (done: number, total: number, stage: string) => void;
