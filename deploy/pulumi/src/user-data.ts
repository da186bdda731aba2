export interface UserDataOptions {
  readonly repoUrl: string;
  readonly repoRef: string;
  readonly composeFile: string;
  readonly publicUrl: string;
  /** The host name Caddy serves over HTTPS in front of Latchkey; undefined in a demo (plain HTTP on 80). */
  readonly tlsDomain: string | undefined;
  /** The encrypted SSM parameter holding SMTP_URL, read at boot; undefined in a demo (Mailpit). */
  readonly smtpUrlParameter: { readonly name: string; readonly region: string } | undefined;
}

/** Where Latchkey listens on the instance when Caddy is in front: loopback only. */
const LOOPBACK_PORT = '127.0.0.1:5001';

/** A value as one single-quoted shell word. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * The single instance's first boot: Docker and Compose from Ubuntu's own packages, the repository,
 * an .env beside the compose file, then `docker compose up -d`.
 *
 * The secrets (SECRET_KEY, POSTGRES_PASSWORD, PGADMIN_PASSWORD: the variables deploy/compose.yml requires) are drawn on the instance and
 * written to a file only root reads: they never pass through user data (which the EC2 API and the
 * metadata service hand out), the Pulumi state, or anyone's terminal. An .env that exists is kept,
 * so a second run never changes the secrets of a database that already holds data.
 *
 * With a TLS domain, Caddy (Ubuntu's package) answers 443 with a certificate it gets and renews itself
 * (Let's Encrypt or ZeroSSL, once the domain's DNS points at the instance), redirects 80 to it, and
 * forwards to Latchkey on the loopback; Latchkey believes the X-Forwarded-For of a peer on the loopback,
 * Caddy (TRUST_PROXY=loopback), whose last entry is the client Caddy saw. The SMTP URL comes from an encrypted SSM parameter, for the same
 * reason as the other secrets.
 */
export function singleUserData(opts: UserDataOptions): string {
  const tls = opts.tlsDomain !== undefined;
  const smtp = opts.smtpUrlParameter;
  return `#!/bin/bash
set -euo pipefail
exec > >(tee -a /var/log/latchkey-setup.log) 2>&1

REPO_URL=${shellQuote(opts.repoUrl)}
REPO_REF=${shellQuote(opts.repoRef)}
COMPOSE_FILE=${shellQuote(opts.composeFile)}
PUBLIC_URL=${shellQuote(opts.publicUrl)}
APP_DIR=/opt/latchkey
${smtp ? `SMTP_URL_PARAMETER=${shellQuote(smtp.name)}\nREGION=${shellQuote(smtp.region)}\n` : ''}
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q docker.io docker-compose-v2 git openssl${tls ? ' caddy' : ''}
systemctl enable --now docker
${tls ? caddySetup(opts.tlsDomain!) : ''}${smtp ? SMTP_URL_READ : ''}
if [ ! -d "$APP_DIR/.git" ]; then
  git clone --depth 1 --branch "$REPO_REF" "$REPO_URL" "$APP_DIR"
fi
chmod 0750 "$APP_DIR"
cd "$APP_DIR/$(dirname "$COMPOSE_FILE")"

if [ ! -f .env ]; then
  (
    umask 077
    cat > .env <<EOF
NODE_ENV=production
PUBLIC_URL=$PUBLIC_URL
${tls ? `LATCHKEY_PORT=${LOOPBACK_PORT}\nTRUST_PROXY=loopback` : 'LATCHKEY_PORT=80'}${smtp ? "\nSMTP_URL='$SMTP_URL'" : ''}
SECRET_KEY=$(openssl rand -base64 32)
POSTGRES_PASSWORD=$(openssl rand -hex 24)
PGADMIN_PASSWORD=$(openssl rand -hex 16)
EOF
  )
fi

docker compose -f "$(basename "$COMPOSE_FILE")" up -d
`;
}

/** Caddy's site for the domain: HTTPS to Latchkey on the loopback, and plain HTTP redirected there. */
function caddySetup(domain: string): string {
  if (!/^[a-z0-9-]+(\.[a-z0-9-]+)+$/.test(domain)) throw new Error(`not a host name: ${domain}`);
  return `cat > /etc/caddy/Caddyfile <<'CADDY'
${domain} {
\treverse_proxy ${LOOPBACK_PORT}
}

http://${domain} {
\tredir https://${domain}{uri} permanent
}
CADDY
systemctl enable caddy
systemctl restart caddy
`;
}

/** The SMTP URL, read once with the instance's role; the AWS CLI from its snap (Ubuntu 24.04 packages none). */
const SMTP_URL_READ = `snap install aws-cli --classic
SMTP_URL=$(aws ssm get-parameter --region "$REGION" --name "$SMTP_URL_PARAMETER" --with-decryption --query Parameter.Value --output text)
case "$SMTP_URL" in
  *"'"*|*" "*|"") echo "the SMTP URL parameter is empty or holds a quote or a space: percent-encode them" >&2; exit 1 ;;
esac
`;
