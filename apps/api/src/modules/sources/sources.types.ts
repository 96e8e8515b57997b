import { Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { IsNotEmpty, MaxLength } from 'class-validator';

export enum SourceKind {
  PAYMENT_EVENTS = 'PAYMENT_EVENTS',
}
registerEnumType(SourceKind, {
  name: 'SourceKind',
  valuesConfig: { PAYMENT_EVENTS: { description: 'A payment system pushing payment outcomes (HTTP, GraphQL or file import).' } },
});

@ObjectType({ description: 'Ingest activity of a source in the last 24 hours.' })
export class SourceActivity {
  @Field(() => Int)
  accepted!: number;

  @Field(() => Int)
  duplicates!: number;

  @Field(() => Int)
  rejected!: number;
}

@ObjectType({ description: 'Something that sends Tally data, with its own ingest key.' })
export class Source {
  @Field(() => ID)
  id!: string;

  @Field()
  name!: string;

  @Field(() => SourceKind)
  kind!: SourceKind;

  @Field(() => Date)
  createdAt!: Date;

  @Field(() => Date, { nullable: true, description: 'Latest occurredAt of an accepted event.' })
  lastEventAt!: Date | null;

  @Field(() => Date, { nullable: true, description: 'When the source last delivered anything (accepted or not).' })
  lastReceivedAt!: Date | null;
}

@InputType()
export class CreateSourceInput {
  @Field()
  @IsNotEmpty()
  @MaxLength(100)
  name!: string;

  @Field(() => SourceKind)
  kind!: SourceKind;
}

@ObjectType()
export class SourceWithKey {
  @Field(() => Source)
  source!: Source;

  @Field({ description: 'The ingest key. Shown only in this answer; it can only ingest, and only for this source.' })
  ingestKey!: string;
}
