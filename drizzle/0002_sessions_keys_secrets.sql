ALTER TABLE "signing_keys" ALTER COLUMN "private_jwk" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "refresh_tokens" ADD COLUMN "successor_hash" text;--> statement-breakpoint
ALTER TABLE "refresh_tokens" ADD COLUMN "successor_sealed" text;--> statement-breakpoint
ALTER TABLE "signing_keys" ADD COLUMN "private_key_sealed" text;--> statement-breakpoint
ALTER TABLE "signing_keys" ADD COLUMN "activates_at" timestamp with time zone;--> statement-breakpoint
UPDATE "signing_keys" SET "activates_at" = "created_at";--> statement-breakpoint
ALTER TABLE "signing_keys" ALTER COLUMN "activates_at" SET NOT NULL;--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "not_before" timestamp with time zone;--> statement-breakpoint
-- Queued reset emails held their link in clear; they are dropped (the user asks again) rather than kept.
UPDATE "mail_outbox" SET "message" = NULL, "abandoned_at" = now(), "last_error" = 'dropped at upgrade: held a reset link'
WHERE "sent_at" IS NULL AND "abandoned_at" IS NULL AND "message"->>'subject' = 'Reset your password';
