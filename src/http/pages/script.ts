import { createHash } from 'node:crypto';

/**
 * The one script of the hosted pages (served at /assets/latchkey-<hash>.js, `script-src 'self'`). Every page works
 * without it. Passkeys, which only the browser's API can make and use: with a browser that has the WebAuthn JSON
 * helpers, the parts marked `data-needs-passkeys` show, and the forms marked `data-passkey` get their assertion or
 * new passkey from `navigator.credentials` before they are sent. Copying: with a browser that lets the page write
 * the clipboard, the parts marked `data-needs-clipboard` show, and a button `data-copy="<id>"` copies that
 * element's text (its `data-copy-value`, else its text; a list's items a line each), then says so in its live
 * region (`data-copy-status`). It has no words of its own: it takes the page's, from data attributes, in the
 * page's language.
 */
export const SCRIPT = `(() => {
  'use strict';
  if (!navigator.clipboard || !navigator.clipboard.writeText) return;
  for (const el of document.querySelectorAll('[data-needs-clipboard]')) el.hidden = false;
  const textOf = (el) => el.dataset.copyValue || (el.matches('ul, ol') ? [...el.querySelectorAll('li')].map((li) => li.textContent.trim()).join('\\n') : el.textContent.trim());
  for (const button of document.querySelectorAll('button[data-copy]')) {
    const status = button.parentElement.querySelector('[data-copy-status]');
    button.addEventListener('click', () => {
      const target = document.getElementById(button.dataset.copy);
      if (!target) return;
      // Emptied first, so that a second copy is announced again.
      status.textContent = '';
      navigator.clipboard.writeText(textOf(target)).then(
        () => { status.textContent = button.dataset.copied; },
        () => { status.textContent = button.dataset.copyFailed; },
      );
    });
  }
})();
(() => {
  'use strict';
  const pk = window.PublicKeyCredential;
  if (!pk || !pk.parseRequestOptionsFromJSON || !pk.parseCreationOptionsFromJSON) return;
  for (const el of document.querySelectorAll('[data-needs-passkeys]')) el.hidden = false;

  const fail = (form, err) => {
    const out = form.querySelector('[data-passkey-error]');
    out.textContent = err && err.name === 'NotAllowedError' ? out.dataset.notUsed : (err && err.message) || out.dataset.failed;
    out.hidden = false;
    out.focus();
  };
  const ask = async (url, body) => {
    const res = await fetch(url, { method: 'POST', credentials: 'same-origin', ...body });
    const answer = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(answer.message || '');
    return answer;
  };
  const send = (form, fields) => {
    for (const [name, value] of Object.entries(fields)) {
      const input = document.createElement('input');
      input.type = 'hidden';
      input.name = name;
      input.value = value;
      form.append(input);
    }
    form.submit();
  };
  const asForm = (form, names) => new URLSearchParams(names.filter((n) => form.elements[n]).map((n) => [n, form.elements[n].value]));

  const flows = {
    // Sign in with a passkey alone.
    signin: async (form) => {
      const options = await ask('/api/signin/passkey/options');
      const credential = await navigator.credentials.get({ publicKey: pk.parseRequestOptionsFromJSON(options) });
      send(form, { challenge_id: options.challenge_id, response: JSON.stringify(credential.toJSON()) });
    },
    // The second step of a sign-in, with one of the account's passkeys.
    'second-step': async (form) => {
      const options = await ask('/api/signin/mfa/passkey-options', { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mfa_token: form.elements.mfa_token.value }) });
      const credential = await navigator.credentials.get({ publicKey: pk.parseRequestOptionsFromJSON(options) });
      send(form, { passkey: JSON.stringify(credential.toJSON()) });
    },
    // A new passkey: the password (and a code, or the enrolment a sign-in is waiting on) first, then the browser makes it.
    register: async (form) => {
      const options = await ask(form.dataset.options || '/account/passkeys/options', { body: asForm(form, ['password', 'code', 'enrolment', 'csrf']) });
      const credential = await navigator.credentials.create({ publicKey: pk.parseCreationOptionsFromJSON(options) });
      for (const name of ['password', 'code']) if (form.elements[name]) form.elements[name].value = '';
      send(form, { response: JSON.stringify(credential.toJSON()) });
    },
  };
  for (const form of document.querySelectorAll('form[data-passkey]')) {
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      flows[form.dataset.passkey](form).catch((err) => fail(form, err));
    });
  }
})();
`;

export const SCRIPT_PATH = `/assets/latchkey-${createHash('sha256').update(SCRIPT).digest('hex').slice(0, 12)}.js`;
