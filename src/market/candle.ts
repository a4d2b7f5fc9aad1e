/**
 * The candle type shared by sources, the replay and the backtest, and the on-disk format of
 * `data/candles/{instrument}/{week}.parquet` (format version 1):
 *   columns t_ms BIGINT (open time, ms since epoch UTC), o, h, l, c DOUBLE, volume BIGINT;
 *   rows sorted by t_ms, unique t_ms; key-value metadata dagbuild_candles_version = '1'.
 */
export interface Candle {
  /** Open time, ms since the Unix epoch, UTC. */
  t: number;
  o: number;
  h: number;
  l: number;
  c: number;
  /** Tick count. */
  volume: number;
}

export const CANDLE_FORMAT_VERSION = 1;
