/**
 * The seven FX majors (OANDA names) and the per-instrument facts the synthetic and OANDA
 * sources need: quote precision, pip size, and the typical price level, volatility and tick
 * activity the synthetic market is calibrated to (levels and volatilities of 2025). The
 * pipeline itself follows its `instrument` axis: files and Valkey sources accept any name.
 */

/** OANDA instrument names of the seven majors, sorted. */
export const INSTRUMENTS = [
  "AUD_USD",
  "EUR_USD",
  "GBP_USD",
  "NZD_USD",
  "USD_CAD",
  "USD_CHF",
  "USD_JPY",
] as const;

/** One of the seven majors. */
export type Instrument = (typeof INSTRUMENTS)[number];

/** Static facts about one instrument. */
export interface InstrumentSpec {
  readonly name: Instrument;
  /** Decimals of an OANDA mid quote: 5, or 3 for JPY crosses. */
  readonly decimals: number;
  /** One pip in price units (0.0001, or 0.01 for JPY). */
  readonly pip: number;
  /** Mid price the synthetic market is anchored to (first week of 2025). */
  readonly level: number;
  /** Annualized volatility of log returns (252 trading days of 1440 minutes). */
  readonly annualVol: number;
  /** Mean M1 tick count in an average-activity minute. */
  readonly ticksPerMinute: number;
  /** Extra activity in the Tokyo/Sydney hours (AUD, NZD and JPY trade there). */
  readonly asiaBoost: number;
}

const SPECS: Readonly<Record<Instrument, InstrumentSpec>> = {
  AUD_USD: { name: "AUD_USD", decimals: 5, pip: 1e-4, level: 0.6450, annualVol: 0.10, ticksPerMinute: 70, asiaBoost: 1.3 },
  EUR_USD: { name: "EUR_USD", decimals: 5, pip: 1e-4, level: 1.1500, annualVol: 0.07, ticksPerMinute: 110, asiaBoost: 1.0 },
  GBP_USD: { name: "GBP_USD", decimals: 5, pip: 1e-4, level: 1.3300, annualVol: 0.08, ticksPerMinute: 100, asiaBoost: 1.0 },
  NZD_USD: { name: "NZD_USD", decimals: 5, pip: 1e-4, level: 0.5950, annualVol: 0.10, ticksPerMinute: 55, asiaBoost: 1.3 },
  USD_CAD: { name: "USD_CAD", decimals: 5, pip: 1e-4, level: 1.3750, annualVol: 0.06, ticksPerMinute: 75, asiaBoost: 1.0 },
  USD_CHF: { name: "USD_CHF", decimals: 5, pip: 1e-4, level: 0.8200, annualVol: 0.07, ticksPerMinute: 65, asiaBoost: 1.0 },
  USD_JPY: { name: "USD_JPY", decimals: 3, pip: 1e-2, level: 146.50, annualVol: 0.09, ticksPerMinute: 95, asiaBoost: 1.35 },
};

/** True for one of the seven majors. */
export function isInstrument(name: string): name is Instrument {
  return Object.hasOwn(SPECS, name);
}

/** The spec of an instrument; throws a RangeError naming the valid names otherwise. */
export function instrumentSpec(name: string): InstrumentSpec {
  if (!isInstrument(name)) {
    throw new RangeError(`unknown instrument "${name}" (expected one of ${INSTRUMENTS.join(", ")})`);
  }
  return SPECS[name];
}

/**
 * Rounds a price to the instrument's quote precision. Math.round on the scaled value is
 * monotone, so rounding o, h, l and c separately keeps l <= o, c <= h.
 */
export function roundPrice(price: number, decimals: number): number {
  const scale = 10 ** decimals;
  return Math.round(price * scale) / scale;
}
