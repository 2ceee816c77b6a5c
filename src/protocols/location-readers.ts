import type { RecordReaders } from '../services/locations/store.ts'
import { ocpiRecordReader } from './ocpi/locations.ts'
import { oicpRecordReader } from './oicp/evse-mapping.ts'

/** How each protocol's stored location records read back into the neutral model (fillSearchDocuments). */
export const LOCATION_RECORD_READERS: RecordReaders = { ocpi: ocpiRecordReader, oicp: oicpRecordReader }
