from flask_wtf import FlaskForm
from wtforms import SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length, Regexp

from app.halls.models import WINDOW_KINDS


class WindowForm(FlaskForm):
    number = StringField("窗口号", validators=[DataRequired(), Regexp(r"^[0-9A-Za-z-]{1,10}$")])
    name = StringField("窗口名称", validators=[DataRequired(), Length(max=100)])
    kind = SelectField("类型", choices=[(k, k) for k in WINDOW_KINDS])
    categories = SelectMultipleField("事项分类", choices=[], validate_choice=True)


class CountyForm(FlaskForm):
    county_code = StringField("县区", validators=[DataRequired(), Regexp(r"^\d{12}$")])
