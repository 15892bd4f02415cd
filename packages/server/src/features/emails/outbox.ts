import { type Kysely, sql } from "kysely";
import nodemailer, { type Transporter } from "nodemailer";
import type { AppContext } from "../../app-context.ts";
import { deleteInBatches, type PruneOptions } from "../../db/batched-delete.ts";
import type { Database } from "../../db/database.ts";

/**
 * How long the outbox keeps an e-mail: long enough to look into a delivery, and for a developer on
 * the embedded default to find a link. Messages hold addresses and codes; they do not stay for good.
 */
export const OUTBOX_RETENTION_MS = 30 * 24 * 3600 * 1000;

export interface OutgoingEmail {
  tenancyId: string | null;
  to: string;
  subject: string;
  text: string;
  html?: string;
}

/**
 * Every e-mail is first written to the outbox table (so nothing is lost), then delivered: through SMTP
 * when `LATCHKEY_SMTP_URL` is set, otherwise only logged, so a developer on the embedded default can
 * copy the link from the server output. Delivery happens after the request is answered; a failure is
 * recorded on the outbox row.
 */
export async function sendEmail(app: AppContext, email: OutgoingEmail): Promise<void> {
  const row = await app.database.db
    .insertInto("email_outbox")
    .values({
      tenancy_id: email.tenancyId,
      to_address: email.to,
      subject: email.subject,
      text_body: email.text,
      html_body: email.html ?? null,
    })
    .returning("id")
    .executeTakeFirstOrThrow();
  const transport = smtpTransport(app);
  if (!transport) {
    app.log(
      `E-mail to ${email.to} (not sent: LATCHKEY_SMTP_URL is not set): ${email.subject}\n${email.text}`,
    );
    return;
  }
  const from = app.env.emailFrom;
  transport
    .sendMail({ from, to: email.to, subject: email.subject, text: email.text, html: email.html })
    .then(
      () =>
        app.database.db
          .updateTable("email_outbox")
          .set({ sent_at: new Date() })
          .where("id", "=", row.id)
          .execute(),
      (error: Error) =>
        app.database.db
          .updateTable("email_outbox")
          .set({ last_error: error.message })
          .where("id", "=", row.id)
          .execute(),
    )
    .catch((error: unknown) => app.log(`Could not record e-mail delivery ${row.id}: ${error}`));
}

const transports = new WeakMap<AppContext, Transporter | null>();

function smtpTransport(app: AppContext): Transporter | null {
  if (!transports.has(app)) {
    transports.set(app, app.env.smtpUrl ? nodemailer.createTransport(app.env.smtpUrl) : null);
  }
  return transports.get(app) ?? null;
}

/** Drops e-mails older than {@link OUTBOX_RETENTION_MS}, sent or not (server housekeeping). */
export function pruneEmailOutbox(
  db: Kysely<Database>,
  { now = new Date(), signal }: PruneOptions = {},
): Promise<number> {
  const cutoff = new Date(now.getTime() - OUTBOX_RETENTION_MS);
  return deleteInBatches(db, "email_outbox", sql`created_at < ${cutoff}`, signal);
}
