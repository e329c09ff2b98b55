// Acting on alerts over HTTP, with the error text an officer should read.
import type { Alert } from '../../../shared/protocol.ts';
import { ApiFailure, api } from '../api.ts';
import { t } from '../i18n.ts';
import { upsertAlert } from '../store/alerts.ts';

export type ActionName = 'ack' | 'assign' | 'comment' | 'escalate' | 'resolve';

export async function act(id: string, action: ActionName, body: object): Promise<Alert> {
  const { alert } = await api.act(id, action, body);
  upsertAlert(alert);
  return alert;
}

/** Human text for a failed call: the status's message plus the server's own detail. */
export function errorText(e: unknown): string {
  if (e instanceof ApiFailure) {
    if (e.statusCode === 0) return t('error.network');
    if ([401, 403, 404, 409].includes(e.statusCode)) {
      const base = t(`error.${e.statusCode}`);
      return e.message && e.message !== base ? `${base} — ${e.message}` : base;
    }
    return t('error.generic', { message: e.message || e.error });
  }
  return t('error.generic', { message: e instanceof Error ? e.message : String(e) });
}
