CREATE TABLE "one_time_tokens" (
	"token_hash" text PRIMARY KEY NOT NULL,
	"type" text NOT NULL,
	"user_id" uuid NOT NULL,
	"payload" jsonb,
	"created_at" timestamp with time zone NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"used_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "one_time_tokens" ADD CONSTRAINT "one_time_tokens_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "one_time_tokens_user_id_type_idx" ON "one_time_tokens" USING btree ("user_id","type");--> statement-breakpoint
-- Reset links already emailed keep working across the upgrade: their hashes move, as they are, into the new table.
INSERT INTO "one_time_tokens" ("token_hash", "type", "user_id", "created_at", "expires_at", "used_at")
	SELECT "token_hash", 'password_reset', "user_id", "created_at", "expires_at", "used_at" FROM "reset_tokens";--> statement-breakpoint
DROP TABLE "reset_tokens" CASCADE;
