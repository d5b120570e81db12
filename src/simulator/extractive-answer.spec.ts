import { composeAnswer, contentText, countWords, fixedAnswer, splitTokens, type ChatTurn } from './extractive-answer';

const SOURCES = [
  '[doc-1] Paris is the capital of France. The Eiffel Tower stands in Paris.',
  '[doc-2] Berlin is the capital of Germany.',
  '[faq:3] Croissants are a French pastry.',
].join('\n');

function user(text: string): ChatTurn {
  return { role: 'user', text };
}

describe('composeAnswer', () => {
  it('extracts the best matching source sentences in document order, each with its id', () => {
    const answer = composeAnswer([{ role: 'system', text: SOURCES }, user('Where does the Eiffel Tower stand?')]);
    expect(answer.text).toBe('The Eiffel Tower stands in Paris. [doc-1]');
    expect(answer.citations).toEqual(['doc-1']);
    expect(answer.truncated).toBe(false);
  });

  it('keeps up to three sentences, best first, then emits them in document order', () => {
    const turns = [
      user(
        [
          '[a] Solar panels convert sunlight.',
          '[b] Wind turbines convert wind.',
          '[c] Solar panels and wind turbines both convert energy.',
          '[d] Solar energy is renewable.',
          '[e] Coal is not.',
          'How do solar panels and wind turbines convert energy?',
        ].join('\n'),
      ),
    ];
    // Scores: a=3 (solar, panels, convert), b=3 (wind, turbines, convert), c=6, d=2 (solar, energy).
    const answer = composeAnswer(turns);
    expect(answer.text).toBe(
      'Solar panels convert sunlight. [a] Wind turbines convert wind. [b] Solar panels and wind turbines both convert energy. [c]',
    );
    expect(answer.citations).toEqual(['a', 'b', 'c']);
  });

  it('breaks ties in favour of the earlier sentence', () => {
    const turns = [user('[x] Apples are red.\n[y] Apples are green.\n[z] Apples are sweet.\n[w] Apples grow.\nApples?')];
    expect(composeAnswer(turns).citations).toEqual(['x', 'y', 'z']);
  });

  it('takes the question from the last non-empty, non-source line of the last user message', () => {
    const turns = [
      user('What about Germany?'),
      { role: 'assistant', text: 'Berlin.' },
      user(`${SOURCES}\n\nWhat is the capital of France?\n\n`),
    ];
    const answer = composeAnswer(turns);
    expect(answer.text).toBe('Paris is the capital of France. [doc-1] Berlin is the capital of Germany. [doc-2]');
  });

  it('says it could not find the answer when sources exist but none match', () => {
    const answer = composeAnswer([{ role: 'system', text: SOURCES }, user('Who wrote Hamlet?')]);
    expect(answer.text).toBe('I could not find that in the provided sources.');
    expect(answer.citations).toEqual([]);
  });

  it('echoes the question when there are no sources and nothing matches', () => {
    const answer = composeAnswer([{ role: 'system', text: 'You are terse.' }, user('Hello there')]);
    expect(answer.text).toBe('Echo: Hello there');
  });

  it('extracts from plain user and system text, without ids, when there are no source lines', () => {
    const turns = [
      { role: 'system', text: 'Kettles boil water quickly. Toasters brown bread.' },
      user('Some notes: ovens bake bread slowly.\nWhat browns bread?'),
    ];
    expect(composeAnswer(turns).text).toBe('Toasters brown bread. Some notes: ovens bake bread slowly.');
  });

  it('truncates to max tokens and reports it', () => {
    const answer = composeAnswer([{ role: 'system', text: SOURCES }, user('Where does the Eiffel Tower stand?')], 3);
    expect(answer.text).toBe('The Eiffel Tower');
    expect(answer.truncated).toBe(true);
    expect(answer.completionTokens).toBe(3);
  });

  it('answers with a compact JSON object when the prompt asks for JSON', () => {
    const turns = [{ role: 'system', text: `Reply in JSON.\n${SOURCES}` }, user('Where does the Eiffel Tower stand?')];
    const answer = composeAnswer(turns);
    expect(JSON.parse(answer.text)).toEqual({ answer: 'The Eiffel Tower stands in Paris. [doc-1]', citations: ['doc-1'] });
    expect(answer.text).toBe('{"answer":"The Eiffel Tower stands in Paris. [doc-1]","citations":["doc-1"]}');
  });

  it('does not switch to JSON for a lower-case mention', () => {
    expect(composeAnswer([user('is json fun?')]).text).toBe('Echo: is json fun?');
  });

  it('counts prompt tokens over every message, system included', () => {
    const answer = composeAnswer([{ role: 'system', text: 'one two' }, { role: 'assistant', text: 'three' }, user('four five six')]);
    expect(answer.promptTokens).toBe(6);
    expect(answer.completionTokens).toBe(countWords(answer.text));
  });
});

describe('fixedAnswer', () => {
  it('returns the text verbatim, whatever it contains', () => {
    const answer = fixedAnswer([user('a b c')], '{"answer": "broken');
    expect(answer).toEqual({ text: '{"answer": "broken', truncated: false, promptTokens: 3, completionTokens: 2, citations: [] });
  });
});

describe('splitTokens', () => {
  it('yields one piece per word that concatenate back to the exact text', () => {
    const text = '  Hello,  world!\nSecond line  ';
    const pieces = splitTokens(text);
    expect(pieces).toHaveLength(4);
    expect(pieces.join('')).toBe(text);
  });

  it('yields nothing for empty text', () => {
    expect(splitTokens('')).toEqual([]);
  });
});

describe('contentText', () => {
  it('reads strings and text blocks, ignoring other blocks', () => {
    expect(contentText('plain')).toBe('plain');
    expect(contentText([{ type: 'text', text: 'a' }, { type: 'image_url' }, { type: 'text', text: 'b' }])).toBe('a\nb');
    expect(contentText(null)).toBe('');
  });
});
