CREATE TABLE "upstream_spent_states" (
	"state_hash" text PRIMARY KEY NOT NULL,
	"expires_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE INDEX "upstream_spent_states_expires_at_idx" ON "upstream_spent_states" USING btree ("expires_at");