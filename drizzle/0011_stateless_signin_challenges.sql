CREATE TABLE "spent_signin_challenges" (
	"challenge_hash" text PRIMARY KEY NOT NULL,
	"expires_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE INDEX "spent_signin_challenges_expires_at_idx" ON "spent_signin_challenges" USING btree ("expires_at");