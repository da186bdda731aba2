-- Private keys stored in clear cannot be told apart from a key someone wrote into the database: they are
-- deleted, and the next start creates a sealed one. Tokens they signed get 401; clients refresh.
DELETE FROM "signing_keys";--> statement-breakpoint
ALTER TABLE "refresh_tokens" ADD COLUMN "successor_hash" text;--> statement-breakpoint
ALTER TABLE "refresh_tokens" ADD COLUMN "successor_sealed" text;--> statement-breakpoint
ALTER TABLE "signing_keys" ADD COLUMN "private_key_sealed" text NOT NULL;--> statement-breakpoint
ALTER TABLE "signing_keys" ADD COLUMN "activates_at" timestamp with time zone NOT NULL;--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "not_before" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "signing_keys" DROP COLUMN "private_jwk";--> statement-breakpoint
-- Queued reset emails held their link in clear; they are dropped (the user asks again) rather than kept.
UPDATE "mail_outbox" SET "message" = NULL, "abandoned_at" = now(), "last_error" = 'dropped at upgrade: held a reset link'
WHERE "sent_at" IS NULL AND "abandoned_at" IS NULL AND "message"->>'subject' = 'Reset your password';
