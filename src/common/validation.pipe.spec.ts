import 'reflect-metadata';
import { Type } from 'class-transformer';
import { IsInt, IsObject, IsString, ValidateNested } from 'class-validator';
import { createValidationPipe, withoutConstructorKeys } from './validation.pipe';

class ItemDto {
  @IsString()
  name: string;

  @IsObject()
  data: Record<string, unknown>;
}

class BodyDto {
  [key: string]: unknown;

  @ValidateNested({ each: true })
  @Type(() => ItemDto)
  items: ItemDto[];
}

class QueryDto {
  @Type(() => Number)
  @IsInt()
  intervalMs: number;
}

const transform = (body: unknown) => createValidationPipe().transform(body, { type: 'body', metatype: BodyDto });

describe('the validation pipe', () => {
  it('hands over free-form JSON whole, keys named like Object.prototype members included', async () => {
    const data = { constructor: 'a', toString: 'b', valueOf: { prototype: 'c' }, hasOwnProperty: 1, tenant: 't' };
    const extra = { properties: { constructor: { type: 'string' } }, required: ['constructor'] };
    const result = await transform(JSON.parse(JSON.stringify({ items: [{ name: 'x', data }], extra })));
    expect(result).toBeInstanceOf(BodyDto);
    expect(result.items[0]).toBeInstanceOf(ItemDto);
    expect(result.items[0].data).toEqual(data);
    expect(result.extra).toEqual(extra);
  });

  it('still validates the DTO, and what it validates is what it hands over', async () => {
    await expect(transform({ items: [{ name: 5, data: {} }] })).rejects.toMatchObject({ message: 'items[0].name: must be a string' });
    // A `constructor` key on a DTO is not the caller's: it neither breaks validation nor replaces the class.
    await expect(transform({ constructor: 'x', items: [{ constructor: 'y', name: 5, data: {} }] })).rejects.toMatchObject({ message: 'items[0].name: must be a string' });
    // Nested arrays stay arrays of DTO instances, so their items are validated (not waved through as plain objects).
    await expect(transform({ items: [[{ data: {} }]] })).rejects.toMatchObject({ message: expect.stringMatching(/^items\[0\]\[0\]\.name: /) });
    const result = await transform({ constructor: 'x', items: [{ constructor: 'y', name: 'n', data: {} }] });
    expect(result.constructor).toBe(BodyDto);
    expect(result.items[0].constructor).toBe(ItemDto);
  });

  it('keeps what a DTO converts (a query string number)', async () => {
    const query = Object.assign(Object.create(null) as object, { intervalMs: '250' });
    const result = (await createValidationPipe().transform(query, { type: 'query', metatype: QueryDto })) as QueryDto;
    expect(result.intervalMs).toBe(250);
  });

  it('drops own __proto__ keys (a query string can carry one)', async () => {
    const query = Object.create(null) as Record<string, unknown>;
    Object.defineProperty(query, '__proto__', { value: { polluted: true }, enumerable: true, configurable: true, writable: true });
    query.items = [];
    const result = await transform(query);
    expect(Object.hasOwn(result, '__proto__')).toBe(false);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('withoutConstructorKeys', () => {
  it('copies only the objects on the way to a constructor key', () => {
    const untouched = { a: [1, { b: 2 }] };
    const value = { untouched, deep: [{ constructor: 'x', keep: 1 }] };
    const stripped = withoutConstructorKeys(value) as typeof value;
    expect(stripped).toEqual({ untouched, deep: [{ keep: 1 }] });
    expect(stripped.untouched).toBe(untouched);
    expect(value.deep[0]).toEqual({ constructor: 'x', keep: 1 });
    expect(withoutConstructorKeys(untouched)).toBe(untouched);
  });
});
