import { ValidateBy, type ValidationOptions } from 'class-validator';

export const METADATA_MAX_KEYS = 32;
export const METADATA_KEY_MAX_CHARS = 128;
export const METADATA_VALUE_MAX_CHARS = 1_024;

function isFlatMetadata(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const entries = Object.entries(value);
  return (
    entries.length <= METADATA_MAX_KEYS &&
    entries.every(
      ([key, entry]) =>
        key.length > 0 &&
        key.length <= METADATA_KEY_MAX_CHARS &&
        (typeof entry === 'boolean' ||
          (typeof entry === 'number' && Number.isFinite(entry)) ||
          (typeof entry === 'string' && entry.length <= METADATA_VALUE_MAX_CHARS)),
    )
  );
}

/** A flat object: at most 32 keys, each a string (≤ 1024 chars), finite number or boolean. */
export function IsFlatMetadata(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isFlatMetadata',
      validator: {
        validate: isFlatMetadata,
        defaultMessage: (args) =>
          `${args?.property ?? 'metadata'} must be a flat object of at most ${METADATA_MAX_KEYS} keys (1-${METADATA_KEY_MAX_CHARS} characters) whose values are strings (at most ${METADATA_VALUE_MAX_CHARS} characters), finite numbers or booleans`,
      },
    },
    options,
  );
}
