import type { AppContext } from "../../app-context.ts";
import { KnownError } from "../../errors/index.ts";
import type { TenancyRef } from "../auth/issue.ts";
import { sendEmail } from "../emails/outbox.ts";
import { createCode, linkWithCode } from "../verification-codes/codes.ts";

/**
 * E-mails a verification link for a contact channel (the primary one when `channelId` is null). The
 * code remembers the address, so verifying after the address changed does nothing.
 */
export async function sendContactVerification(
  app: AppContext,
  ref: TenancyRef,
  userId: string,
  channelId: string | null,
  callbackUrl: string,
): Promise<void> {
  let query = app.database.db
    .selectFrom("contact_channels")
    .select(["id", "value", "is_verified"])
    .where("tenancy_id", "=", ref.tenancy.id)
    .where("user_id", "=", userId);
  query = channelId ? query.where("id", "=", channelId) : query.where("is_primary", "=", true);
  const channel = await query.executeTakeFirst();
  if (!channel) return;
  if (channel.is_verified) throw new KnownError("EMAIL_ALREADY_VERIFIED");
  const code = await createCode(app.database.db, {
    tenancyId: ref.tenancy.id,
    purpose: "contact_channel_verification",
    data: { user_id: userId, channel_id: channel.id, value: channel.value },
  });
  await sendEmail(app, {
    tenancyId: ref.tenancy.id,
    to: channel.value,
    subject: `Verify your e-mail for ${ref.project.row.display_name}`,
    text: `Please verify your e-mail address for ${ref.project.row.display_name}:\n\n${linkWithCode(callbackUrl, code)}\n`,
  });
}
