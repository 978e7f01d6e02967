import type { Logger } from 'pino';
import type { FileInfo } from '@cairn/protocol';
import type { PutOptions } from '@cairn/transfer';

/**
 * Puts name the upload id the controller gave them in the client's log ('upload begun', then 'file
 * stored'): the id the controller's ('file committed') and every node's ('chunk stored', at debug) log
 * lines carry for the same put, so one grep follows a put through every process.
 */
export function uploadLog(log: Logger, name: string): { onBegin: NonNullable<PutOptions['onBegin']>; stored: (file: FileInfo) => void } {
  let uploadId: string | undefined;
  return {
    onBegin: (info) => {
      uploadId = info.uploadId;
      log.info({ name, uploadId }, 'upload begun');
    },
    stored: (file) => log.info({ name, uploadId, size: file.size, chunks: file.chunkCount, replicas: file.replicas }, 'file stored'),
  };
}
