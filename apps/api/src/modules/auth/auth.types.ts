import { Field, ID, InputType, ObjectType } from 'type-graphql';
import { IsNotEmpty, MaxLength } from 'class-validator';
import { Role } from './role.js';

@ObjectType({ description: 'An API token. The secret itself is shown only once, when created.' })
export class ApiToken {
  @Field(() => ID)
  id!: string;

  @Field()
  name!: string;

  @Field(() => Role)
  role!: Role;

  @Field({ description: 'First characters of the secret, to tell tokens apart.' })
  secretPrefix!: string;

  @Field(() => Date)
  createdAt!: Date;

  @Field(() => Date, { nullable: true })
  lastUsedAt!: Date | null;

  @Field(() => Date, { nullable: true })
  revokedAt!: Date | null;
}

@ObjectType({ description: 'The caller, as identified by its token.' })
export class Me {
  @Field(() => ID)
  tokenId!: string;

  @Field()
  name!: string;

  @Field(() => Role)
  role!: Role;
}

@InputType()
export class CreateApiTokenInput {
  @Field()
  @IsNotEmpty()
  @MaxLength(100)
  name!: string;

  @Field(() => Role)
  role!: Role;
}

@ObjectType()
export class CreatedApiToken {
  @Field(() => ApiToken)
  token!: ApiToken;

  @Field({ description: 'The bearer secret. Shown only in this answer; store it now.' })
  secret!: string;
}
