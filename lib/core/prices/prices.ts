/**
 * The price lists `simulate --price` knows, by name.
 *
 * @module
 */

import { AWS_PRICES } from "./aws.ts";
import { B2_PRICES } from "./b2.ts";
import type { PriceTable } from "./price_table.ts";
import { R2_PRICES } from "./r2.ts";

/** Every price list, by the name `--price` takes. */
export const PRICE_TABLES: Readonly<Record<string, PriceTable>> = {
  aws: AWS_PRICES,
  r2: R2_PRICES,
  b2: B2_PRICES,
};

/** The price list named `id`, or undefined. */
export function priceTable(id: string): PriceTable | undefined {
  return Object.hasOwn(PRICE_TABLES, id) ? PRICE_TABLES[id] : undefined;
}
