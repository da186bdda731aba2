// oidc-provider 8 ships no types: the tests use the few parts they need, typed where they use them.
declare module 'oidc-provider' {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- an untyped package
  const Provider: any;
  export default Provider;
}
