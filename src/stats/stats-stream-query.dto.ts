import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, Max, Min } from 'class-validator';

export const STREAM_INTERVAL_MS = { default: 1_000, min: 250, max: 10_000 } as const;

export class StatsStreamQueryDto {
  @ApiPropertyOptional({
    description: 'Milliseconds between two snapshots.',
    minimum: STREAM_INTERVAL_MS.min,
    maximum: STREAM_INTERVAL_MS.max,
    default: STREAM_INTERVAL_MS.default,
    example: 1000,
  })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(STREAM_INTERVAL_MS.min)
  @Max(STREAM_INTERVAL_MS.max)
  intervalMs?: number;

  @ApiPropertyOptional({
    description:
      'One of SERVICE_API_KEYS, for clients that cannot send headers (a browser EventSource). Accepted on this route only; ' +
      '`Authorization: Bearer` wins when both are sent.',
  })
  @IsOptional()
  @IsString()
  access_token?: string;
}
