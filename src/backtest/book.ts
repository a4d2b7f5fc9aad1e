/**
 * The netted book of one instrument (gate-spec section 11): sub-trades are not priced
 * separately; a fill adds to or reduces one position at its average price, and a trade is a
 * reducing fill, priced at the book's average and opening time.
 *
 *   usd(x)   x for XXX_USD, x/m for USD_XXX, x for crosses (the legacy defect; the `usd` switch
 *            multiplies by the quote currency's USD rate instead); m = the fill's or mark's mid
 *   cost     usd(|m q| cost_bps / 1e4), taken from `realized` at the fill
 *   from flat  avg = m, opened = t, entry_cost = cost
 *   adding     avg = (avg |u| + m |q|)/(|u| + |q|), entry_cost += cost, opened kept
 *   reducing   gross = usd((m - avg) q) long, usd((avg - m) q) short; realized += gross;
 *              share = entry_cost q/|u|; entry_cost -= share; trade commission = share + cost,
 *              pnl = gross - commission
 *   MAE/MFE    marked before the fill each minute; a reducing fill records |mae| q/|u| and
 *              max(0, mfe) q/|u|, then scales both by |u_after|/|u|
 */

/** One trade record (a reducing fill); the §11 trade fields. */
export interface Trade {
  readonly instrument: string;
  readonly entry_time: number;
  readonly exit_time: number;
  readonly side: "LONG" | "SHORT";
  readonly units: number;
  readonly entry_price: number;
  readonly exit_price: number;
  readonly commission: number;
  readonly pnl: number;
  readonly mae: number;
  readonly mfe: number;
}

/** How an instrument's quote-currency amounts become USD. */
export type UsdConversion =
  | { readonly kind: "quote_usd" }
  | { readonly kind: "base_usd" }
  | { readonly kind: "cross"; readonly rate: number };

/** Conversion of an instrument: XXX_USD, USD_XXX, or a cross (legacy rate 1: unconverted). */
export function usdConversion(instrument: string, crossRate = 1): UsdConversion {
  if (instrument.endsWith("_USD")) return { kind: "quote_usd" };
  if (instrument.startsWith("USD_")) return { kind: "base_usd" };
  return { kind: "cross", rate: crossRate };
}

/** The position, its cash and its trades. */
export class Book {
  /** Signed net units. */
  u = 0;
  avg = 0;
  opened = 0;
  entryCost = 0;
  realized = 0;
  /** Price of the last fill (the sizing's exposure is not re-marked). */
  lastFillPrice = 0;
  mae = 0;
  mfe = 0;
  /** Costs paid and USD notional traded, over all fills. */
  costs = 0;
  traded = 0;
  fills = 0;
  readonly trades: Trade[] = [];

  constructor(
    readonly instrument: string,
    readonly conv: UsdConversion,
    readonly costBps: number,
  ) {}

  /** Quote-currency amount `x` in USD at mid `m`. */
  usd(x: number, m: number): number {
    switch (this.conv.kind) {
      case "quote_usd":
        return x;
      case "base_usd":
        return x / m;
      case "cross":
        return x * this.conv.rate;
    }
  }

  /** Unrealized P&L at mid `m`. */
  unrealized(m: number): number {
    return this.u === 0 ? 0 : this.usd((m - this.avg) * this.u, m);
  }

  /** |units| in USD notional at `m`. */
  notional(units: number, m: number): number {
    return this.usd(Math.abs(units * m), m);
  }

  /** Step 2: MAE/MFE at this minute's mid, before any fill. */
  mark(m: number): void {
    if (this.u === 0) {
      this.mae = 0;
      this.mfe = 0;
      return;
    }
    const v = this.unrealized(m);
    this.mfe = Math.max(this.mfe, v);
    this.mae = Math.min(this.mae, v);
  }

  /** Fills `delta` signed units at mid `m`, time `t`. */
  fill(t: number, m: number, delta: number): void {
    if (delta === 0) return;
    if (this.u !== 0 && Math.sign(delta) !== Math.sign(this.u)) {
      const q = Math.min(Math.abs(delta), Math.abs(this.u));
      this.reduce(t, m, q);
      const rest = Math.abs(delta) - q; // never within section 11 (no sign change in a minute)
      if (rest > 0) this.add(t, m, Math.sign(delta) * rest);
    } else this.add(t, m, delta);
    this.lastFillPrice = m;
  }

  private cost(q: number, m: number): number {
    const c = this.usd(Math.abs(m * q) * this.costBps / 1e4, m);
    this.realized -= c;
    this.costs += c;
    this.traded += this.notional(q, m);
    this.fills++;
    return c;
  }

  private add(t: number, m: number, delta: number): void {
    const q = Math.abs(delta);
    const cost = this.cost(q, m);
    if (this.u === 0) {
      this.avg = m;
      this.opened = t;
      this.entryCost = cost;
    } else {
      const a = Math.abs(this.u);
      this.avg = (this.avg * a + m * q) / (a + q);
      this.entryCost += cost;
    }
    this.u += delta;
  }

  private reduce(t: number, m: number, q: number): void {
    const cost = this.cost(q, m);
    const long = this.u > 0;
    const a = Math.abs(this.u);
    const gross = long ? this.usd((m - this.avg) * q, m) : this.usd((this.avg - m) * q, m);
    this.realized += gross;
    const share = (this.entryCost * q) / a;
    this.entryCost -= share;
    const commission = share + cost;
    const mae = (Math.abs(this.mae) * q) / a;
    const mfe = (Math.max(0, this.mfe) * q) / a;
    const after = a - q;
    this.mae *= after / a;
    this.mfe *= after / a;
    this.trades.push({
      instrument: this.instrument,
      entry_time: this.opened,
      exit_time: t,
      side: long ? "LONG" : "SHORT",
      units: q,
      entry_price: this.avg,
      exit_price: m,
      commission,
      pnl: gross - commission,
      mae,
      mfe,
    });
    this.u = long ? after : -after;
  }
}
