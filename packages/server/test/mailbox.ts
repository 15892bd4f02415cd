import type { AddressInfo } from "node:net";
import { simpleParser } from "mailparser";
import { SMTPServer } from "smtp-server";

export interface ReceivedMail {
  to: string;
  subject: string;
  text: string;
}

/** A real SMTP server on loopback that keeps what it receives, for tests that read e-mailed codes. */
export class Mailbox {
  readonly messages: ReceivedMail[] = [];
  private server!: SMTPServer;
  url = "";

  static async start(): Promise<Mailbox> {
    const mailbox = new Mailbox();
    mailbox.server = new SMTPServer({
      authOptional: true,
      disabledCommands: ["STARTTLS"],
      logger: false,
      onData(stream, _session, callback) {
        simpleParser(stream)
          .then((mail) => {
            const to = Array.isArray(mail.to) ? mail.to[0] : mail.to;
            mailbox.messages.push({
              to: to?.value[0]?.address ?? "",
              subject: mail.subject ?? "",
              text: mail.text ?? "",
            });
            callback();
          })
          .catch(callback);
      },
    });
    await new Promise<void>((resolve) => mailbox.server.listen(0, "127.0.0.1", resolve));
    const { port } = mailbox.server.server.address() as AddressInfo;
    mailbox.url = `smtp://127.0.0.1:${port}`;
    return mailbox;
  }

  /** Waits for the next message to `to` matching `subject`, and returns it. */
  async waitFor(to: string, subject: RegExp, timeoutMs = 5000): Promise<ReceivedMail> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const index = this.messages.findIndex((m) => m.to === to && subject.test(m.subject));
      if (index !== -1) return this.messages.splice(index, 1)[0]!;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error(`no e-mail to ${to} matching ${subject} within ${timeoutMs} ms`);
  }

  /** The `code` query parameter of the first link in a message. */
  static codeOf(mail: ReceivedMail): string {
    const link = /https?:\/\/\S+/.exec(mail.text)?.[0];
    const code = link ? new URL(link).searchParams.get("code") : null;
    if (!code) throw new Error(`no code link in e-mail: ${mail.text}`);
    return code;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
