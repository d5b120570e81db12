/** Anthropic's Messages API, as the service receives it on POST /v1/messages (inbound). */
export interface MessagesRequest {
  model?: string;
  messages: { role: 'user' | 'assistant'; content: string | (Record<string, unknown> & { type?: unknown })[] }[];
  system?: string | Record<string, unknown>[];
  max_tokens?: number;
  temperature?: number;
  top_p?: number;
  top_k?: number;
  stop_sequences?: string[];
  stream?: boolean;
  tools?: unknown[];
  tool_choice?: unknown;
  metadata?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface AnthropicUsage {
  input_tokens: number;
  output_tokens: number;
}

export type AnthropicContentBlock =
  | { type: 'text'; text: string }
  | { type: 'tool_use'; id: string; name: string; input: unknown };

export interface AnthropicMessage {
  id: string;
  type: 'message';
  role: 'assistant';
  model: string;
  content: AnthropicContentBlock[];
  stop_reason: string | null;
  stop_sequence: string | null;
  usage: AnthropicUsage;
}

/** One server-sent event of Anthropic's stream: its name and its JSON data (whose `type` is the name). */
export interface AnthropicEvent {
  event: string;
  data: Record<string, unknown>;
}
