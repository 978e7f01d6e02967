import { MAX_CONTROL_BODY } from '@cairn/protocol';

/** Room for a page's entries in one control message; the rest of the body (`next`, braces) is small. */
export const LIST_PAGE_BYTES = MAX_CONTROL_BODY - 16 * 1024;

/**
 * A listing page that fits in one control message: up to `limit` entries were asked for, but 1000
 * files with names near the 1 KiB limit take more than a message may carry, so the page ends at the
 * last entry that fits and `next` says where the following one starts (as for a full page).
 */
export function fitListPage<T extends { name: string }>(entries: T[], limit: number, budget = LIST_PAGE_BYTES): { entries: T[]; next?: string } {
  let bytes = 0;
  let fits = 0;
  for (; fits < entries.length; fits++) {
    bytes += Buffer.byteLength(JSON.stringify(entries[fits])) + 1; // and its comma
    if (bytes > budget) break;
  }
  const page = entries.slice(0, fits);
  const more = fits < entries.length || entries.length === limit;
  return { entries: page, next: more && page.length > 0 ? page[page.length - 1].name : undefined };
}
