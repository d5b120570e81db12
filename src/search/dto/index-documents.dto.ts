import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  ArrayUnique,
  IsArray,
  IsByteLength,
  IsOptional,
  IsString,
  Matches,
  MaxLength,
  ValidateNested,
} from 'class-validator';
import type { DocumentMetadata } from '../search.types';
import { IsFlatMetadata } from './flat-metadata.validator';

export const MAX_BATCH_DOCUMENTS = 1_000;
export const MAX_TEXT_BYTES = 100 * 1024;
export const MAX_TITLE_CHARS = 1_000;
// Ids travel in URL paths and in `[id] text` source lines of prompts: no slashes, spaces or brackets.
export const DOCUMENT_ID_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;

export class IndexDocumentDto {
  @IsString()
  @Matches(DOCUMENT_ID_PATTERN, { message: 'id must be 1-128 characters of letters, digits, _ . : -' })
  id: string;

  @IsString()
  @IsByteLength(1, MAX_TEXT_BYTES, { message: `text must be 1 to ${MAX_TEXT_BYTES} bytes of UTF-8` })
  text: string;

  @IsOptional()
  @IsString()
  @MaxLength(MAX_TITLE_CHARS)
  title?: string;

  @IsOptional()
  @IsFlatMetadata()
  metadata?: DocumentMetadata;
}

export class IndexDocumentsDto {
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_BATCH_DOCUMENTS)
  @ArrayUnique((document: IndexDocumentDto | undefined) => document?.id, { message: 'documents must not repeat an id' })
  @ValidateNested({ each: true })
  @Type(() => IndexDocumentDto)
  documents: IndexDocumentDto[];
}
