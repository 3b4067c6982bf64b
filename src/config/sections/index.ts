import type { z } from 'zod'
import type { Setting } from '../env.js'
import { auth } from './auth.js'
import { cdn } from './cdn.js'
import { database } from './database.js'
import { files } from './files.js'
import { general } from './general.js'
import { http } from './http.js'
import { images } from './images.js'
import { operations } from './operations.js'
import { storage } from './storage.js'

/** Every section, in the order docs/configuration.md lists them. */
export const SECTIONS = [general, storage, images, database, files, operations, http, auth, cdn] as const

type AllVariables = (typeof SECTIONS)[number]['variables']
type KeysOfUnion<T> = T extends unknown ? keyof T : never

export type SettingName = Extract<KeysOfUnion<AllVariables>, string>

/** Every environment variable the package reads, by name. */
export const SETTINGS = Object.fromEntries(SECTIONS.flatMap((s) => Object.entries(s.variables))) as Record<
  SettingName,
  Setting
>

export const SECRET_SETTINGS: readonly SettingName[] = (Object.keys(SETTINGS) as SettingName[]).filter(
  (name) => SETTINGS[name].secret,
)

type UnionToIntersection<U> = (U extends unknown ? (part: U) => void : never) extends (whole: infer I) => void
  ? I
  : never

/** What the section schemas build together, before `loadConfig` freezes it (see `Frozen`). */
export type BuiltConfig = UnionToIntersection<z.output<(typeof SECTIONS)[number]['schema']>>
