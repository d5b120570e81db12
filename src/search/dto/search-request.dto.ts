import { IsInt, IsNotEmpty, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import { MAX_TOP_K, type DocumentMetadata, type SearchRequest } from '../search.types';
import { IsFlatMetadata } from './flat-metadata.validator';

export const MAX_QUERY_CHARS = 2_000;

export class SearchRequestDto implements SearchRequest {
  @IsString()
  @IsNotEmpty()
  @MaxLength(MAX_QUERY_CHARS)
  query: string;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(MAX_TOP_K)
  topK?: number;

  /** Equality on every key, e.g. {"lang": "en"}. */
  @IsOptional()
  @IsFlatMetadata()
  filter?: DocumentMetadata;
}
