import { z } from 'zod'
import { bool, defineSection, int, list, truncate, url } from '../env.js'

const trimSlashes = (value: string) => value.replace(/\/+$/, '')

export const cdn = defineSection({
  title: 'CDN',
  summary: '`config.cdn`: the public URLs of stored files, and how the edge learns that one changed.',
  variables: {
    CDN_PROVIDER: {
      schema: z.enum(['none', 'cloudfront', 'http-purge']).default('none'),
      default: 'none',
      doc:
        'How deleted or replaced public objects leave the edge: `cloudfront` (CreateInvalidation), `http-purge` ' +
        '(`PURGE` per URL: Varnish, Fastly, nginx), `none`. Needs `CDN_URL`.',
    },
    CDN_URL: {
      schema: url.optional(),
      default: '—',
      doc:
        'Public base URL of the CDN (custom domain; may end in a path). Public URLs are this + the key; unset: the ' +
        "bucket URL or the service's `/files/` route.",
    },
    CLOUDFRONT_DISTRIBUTION_ID: {
      schema: z.string().min(1).optional(),
      default: '—',
      doc:
        'Distribution to invalidate (`cloudfront`). Credentials: the SDK default chain, or `AWS_ACCESS_KEY_ID` when ' +
        'the store is AWS S3.',
    },
    CLOUDFRONT_KEY_PAIR_ID: {
      schema: z.string().min(1).optional(),
      default: '—',
      doc:
        'Id of the CloudFront public key whose private key signs URLs of `authenticated` files (canned policy, ' +
        '`SIGNED_URL_TTL`); unset: signed bucket URLs. Private documents never use it.',
    },
    CLOUDFRONT_PRIVATE_KEY: {
      schema: z.string().min(1).optional(),
      default: '—',
      doc: 'PEM private key that signs CDN URLs.',
      secret: true,
    },
    CDN_PURGE_URLS: {
      schema: list.default(''),
      default: '—',
      doc:
        'Edges that receive `PURGE` (http-purge), comma-separated base URLs; each gets every path, with ' +
        "`CDN_URL`'s host as `Host`.",
    },
    CDN_WARM: {
      schema: bool.default(false),
      default: 'false',
      doc:
        'Request every URL of a new public file through the CDN once it is ready (`warm_cdn` job), so the first ' +
        'reader hits.',
    },
    CDN_WARM_CONCURRENCY: { schema: int(1, 64).default(4), default: '4', doc: 'Warming requests in flight.' },
  },
  build(v, problem) {
    if (v.CDN_PROVIDER === 'cloudfront' && !v.CLOUDFRONT_DISTRIBUTION_ID) {
      problem('CLOUDFRONT_DISTRIBUTION_ID: required when CDN_PROVIDER is cloudfront')
    }
    if (v.CDN_PROVIDER === 'http-purge' && v.CDN_PURGE_URLS.length === 0) {
      problem('CDN_PURGE_URLS: required when CDN_PROVIDER is http-purge')
    }
    if (v.CDN_PROVIDER !== 'none' && !v.CDN_URL) problem(`CDN_URL: required when CDN_PROVIDER is ${v.CDN_PROVIDER}`)
    if (v.CLOUDFRONT_KEY_PAIR_ID && !v.CDN_URL) {
      problem('CDN_URL: required when CLOUDFRONT_KEY_PAIR_ID is set (signed URLs are CDN URLs)')
    }
    if (Boolean(v.CLOUDFRONT_KEY_PAIR_ID) !== Boolean(v.CLOUDFRONT_PRIVATE_KEY)) {
      problem('CLOUDFRONT_KEY_PAIR_ID and CLOUDFRONT_PRIVATE_KEY: set both or neither')
    }
    for (const u of v.CDN_PURGE_URLS) {
      if (!url.safeParse(u).success) problem(`CDN_PURGE_URLS: expected comma-separated URLs (got "${truncate(u)}")`)
    }
    return {
      cdn: {
        provider: v.CDN_PROVIDER,
        url: v.CDN_URL === undefined ? undefined : trimSlashes(v.CDN_URL),
        cloudfront: {
          distributionId: v.CLOUDFRONT_DISTRIBUTION_ID,
          keyPairId: v.CLOUDFRONT_KEY_PAIR_ID,
          // An env file holds the PEM on one line, with its line breaks written as \n.
          privateKey: v.CLOUDFRONT_PRIVATE_KEY?.replace(/\\n/g, '\n'),
        },
        purgeUrls: v.CDN_PURGE_URLS.map(trimSlashes),
        warm: v.CDN_WARM,
        warmConcurrency: v.CDN_WARM_CONCURRENCY,
      },
    }
  },
})
