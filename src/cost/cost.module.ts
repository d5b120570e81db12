import { Global, Module } from '@nestjs/common';
import { SpendTracker } from './spend-tracker';

@Global()
@Module({ providers: [SpendTracker], exports: [SpendTracker] })
export class CostModule {}
