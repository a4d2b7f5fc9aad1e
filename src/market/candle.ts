/**
 * The candle type shared by sources, the replay and the backtest, and the on-disk format of
 * `data/candles/{instrument}/{week}.parquet` (format version 2):
 *   columns t_ms BIGINT (open time, ms since epoch UTC), o, h, l, c DOUBLE, volume BIGINT;
 *   rows sorted by t_ms, unique t_ms; key-value metadata:
 *     dagbuild_candles_version  '2'
 *     dagbuild_price_side       bid | ask | mid (the side the source quoted)
 *     dagbuild_instrument       the instrument, dagbuild_week_start the week's Monday (ISO)
 *     dagbuild_coverage         JSON WeekCoverage (calendar.ts): expected/present/missing minutes
 *     dagbuild_import           JSON: rows read, kept, and dropped or changed by reason
 *   Version 1 files (no metadata but the version) read as side `mid`, coverage unknown.
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

export const CANDLE_FORMAT_VERSION = 2;

/** The price a candle quotes. Brokers export bid (FXCM) or mid (OANDA `price=M`). */
export type PriceSide = "bid" | "ask" | "mid";
export const PRICE_SIDES: readonly PriceSide[] = ["bid", "ask", "mid"];
