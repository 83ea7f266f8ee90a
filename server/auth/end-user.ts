// How an end user (the `x-end-user` header, the OpenAI door's `user`, a key's bound end user) and a
// key's owner are named: one definition, so the header check and the key schemas cannot drift.
export const END_USER_PATTERN = /^[A-Za-z0-9._@:-]{1,128}$/;

export const END_USER_RULE = "letters, digits and . _ @ : - (1-128)";
