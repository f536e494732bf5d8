/**
 * The behaviour every Store implementation must have: one suite per concern, each run
 * against both stores. Each implementation's test file calls `storeContract` with a factory.
 */
import { outboundContract } from './outbound';
import { inboundContract } from './inbound';
import { errorQueueContract } from './error-queue';
import { correlationsContract } from './correlations';
import { valuesContract } from './values';
import { refreshTokensContract } from './refresh-tokens';
import { retentionContract } from './retention';
import { captureStatesContract } from './capture-states';
import { journalMarksContract } from './journal-marks';
import { fieldStampsContract } from './field-stamps';
import { peersContract } from './peers';
import { watermarksContract } from './watermarks';
import { metricsContract } from './metrics';
import { attachmentsContract } from './attachments';
import type { StoreFactory } from './support';

export { draft, received, type StoreFactory } from './support';

export function storeContract(name: string, factory: StoreFactory): void {
  describe(`${name} store contract`, () => {
    outboundContract(factory);
    inboundContract(factory);
    errorQueueContract(factory);
    correlationsContract(factory);
    valuesContract(factory);
    refreshTokensContract(factory);
    retentionContract(factory);
    captureStatesContract(factory);
    journalMarksContract(factory);
    fieldStampsContract(factory);
    peersContract(factory);
    watermarksContract(factory);
    metricsContract(factory);
    attachmentsContract(factory);
  });
}
