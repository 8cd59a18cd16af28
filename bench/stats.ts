/** Small helpers shared by the benchmarks: medians of repeated rounds, table printing. */
import { availableParallelism } from 'node:os';

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Median ms per call of each function, measured in interleaved rounds (A B C A B C ...) so that
 * machine noise hits all of them alike: use this for ratios.
 */
export function timeInterleaved(fns: (() => void)[], perRound: number[], rounds = 9): number[] {
  fns.forEach((fn, i) => {
    for (let k = 0; k < perRound[i]!; k++) fn();
  });
  const per: number[][] = fns.map(() => []);
  for (let r = 0; r < rounds; r++) {
    fns.forEach((fn, i) => {
      const t0 = performance.now();
      for (let k = 0; k < perRound[i]!; k++) fn();
      per[i]!.push((performance.now() - t0) / perRound[i]!);
    });
  }
  return per.map(median);
}

export function table(headers: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.map(String).join(' | ')} |`;
  return [line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n');
}

export function machine(): string {
  return `${process.platform}-${process.arch}, ${availableParallelism()} cores, Node ${process.version}`;
}
