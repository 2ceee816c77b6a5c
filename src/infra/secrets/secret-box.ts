import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'

/**
 * Encrypts secrets we must be able to read back (tokens we present to partners) with
 * AES-256-GCM. The key never lives in the database it protects: it comes from OPENPNC_SECRET_KEY
 * or, for a single instance, from a file generated once in the data directory.
 */
export class SecretBox {
  private constructor(private readonly key: Buffer) {}

  static fromHex(hex: string): SecretBox {
    return new SecretBox(Buffer.from(hex, 'hex'))
  }

  /** The configured key, else the one in `path` (created on first use). */
  static load(configuredHex: string | undefined, path: string): SecretBox {
    if (configuredHex) return SecretBox.fromHex(configuredHex)
    if (!existsSync(path)) {
      mkdirSync(dirname(path), { recursive: true })
      writeFileSync(path, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 })
    }
    return SecretBox.fromHex(readFileSync(path, 'utf8').trim())
  }

  /**
   * `v1.<iv>.<tag>.<ciphertext>`, base64url parts. `context` (authenticated, not stored) binds the
   * sealed text to where it belongs: opened with another context, it fails.
   */
  seal(plaintext: string, context?: string): string {
    const iv = randomBytes(12)
    const cipher = createCipheriv('aes-256-gcm', this.key, iv)
    if (context !== undefined) cipher.setAAD(Buffer.from(context, 'utf8'))
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
    return ['v1', iv, cipher.getAuthTag(), ciphertext].map((p) => (typeof p === 'string' ? p : p.toString('base64url'))).join('.')
  }

  open(sealed: string, context?: string): string {
    const [version, iv, tag, ciphertext] = sealed.split('.')
    if (version !== 'v1' || !iv || !tag || ciphertext === undefined) throw new Error('not a sealed secret')
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'))
    if (context !== undefined) decipher.setAAD(Buffer.from(context, 'utf8'))
    decipher.setAuthTag(Buffer.from(tag, 'base64url'))
    return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8')
  }
}
